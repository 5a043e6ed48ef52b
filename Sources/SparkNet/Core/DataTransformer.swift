import CaffeProto
import Foundation

/// Caffe's DataTransformer (`transform_param`) for one decoded sample of shape C×H×W, in Caffe's
/// order: crop (`crop_size`: a random offset in TRAIN, the centre in TEST), mirror (`mirror`:
/// a random half of the samples, TRAIN only), subtract the mean (`mean_file`, a BlobProto of the
/// uncropped C×H×W read at the crop offset; or `mean_value`, one value or one per channel), then
/// multiply by `scale`: out = (x − mean) × scale.
///
/// Differences from Caffe: the random draws come from a generator seeded by the caller's
/// `sampleKey`, not from one stream per thread, so a sample's crop and mirror depend only on its
/// key (same bits at any thread count, and after a resume); and TEST never mirrors (Caffe draws
/// a mirror in TEST too when `mirror: true`). `force_color`/`force_gray` steer the decoding of
/// encoded images, which happens before this transformer (in the source); here they are
/// accepted and ignored, as Caffe ignores them for raw (non-encoded) data.
public final class DataTransformer: @unchecked Sendable {
    /// [C, crop or H, crop or W] (an input of fewer than three axes keeps its shape when not
    /// cropped).
    public let outputShape: [Int]

    private let channels: Int
    private let height: Int
    private let width: Int
    /// Output height and width (the crop size, or the input's).
    private let outHeight: Int
    private let outWidth: Int
    private let randomCrop: Bool
    private let mayMirror: Bool
    private let scale: Float
    /// The mean image, C×H×W of the uncropped input (mean_file).
    private let meanImage: [Float]?
    /// One mean per channel (mean_value, a single value replicated).
    private let meanValues: [Float]?

    /// inputShape is one sample's [C, H, W]. Loads mean_file (a BlobProto .binaryproto) itself. `label` names the layer in errors.
    ///
    /// A sample of fewer than three axes is read as Caffe reads such blobs (`[D]` is D×1×1).
    /// Throws a `SparkNetError` naming `label` and the field for a crop larger than the image, a
    /// missing or malformed mean file, a mean of another shape than the data, a mean_value
    /// count other than 1 or C, and mean_file given together with mean_value.
    public init(param: Caffe_TransformationParameter, phase: Caffe_Phase, inputShape: [Int], label: String) throws {
        try require(inputShape.count <= 3 && inputShape.allSatisfy { $0 > 0 },
                    "\(label): transform_param needs data samples of shape C×H×W, got \(inputShape)")
        // Caffe's legacy axes: missing trailing axes are 1.
        let chw = inputShape + Array(repeating: 1, count: 3 - inputShape.count)
        channels = chw[0]
        height = chw[1]
        width = chw[2]
        let crop = Int(param.cropSize)
        if crop > 0 {
            try require(crop <= height && crop <= width,
                        "\(label): transform_param.crop_size \(crop) > image \(height)×\(width)")
            outHeight = crop
            outWidth = crop
            outputShape = [channels, crop, crop]
        } else {
            outHeight = height
            outWidth = width
            outputShape = inputShape
        }
        randomCrop = crop > 0 && phase == .train
        mayMirror = param.mirror && phase == .train
        scale = param.scale

        try require(!(param.hasMeanFile && !param.meanValue.isEmpty),
                    "\(label): transform_param has both mean_file and mean_value; give one (as Caffe)")
        if param.hasMeanFile {
            meanImage = try Self.loadMean(param.meanFile, shape: chw, label: label)
        } else {
            meanImage = nil
        }
        if !param.meanValue.isEmpty {
            let n = param.meanValue.count
            try require(n == 1 || n == channels,
                        "\(label): transform_param has \(n) mean_value entries; give 1 or one per channel (\(channels))")
            meanValues = n == 1 ? Array(repeating: param.meanValue[0], count: channels) : param.meanValue
        } else {
            meanValues = nil
        }
    }

    /// Reads the mean BlobProto at `path` and checks it is 1×C×H×W (or C×H×W) of the input's
    /// uncropped C×H×W.
    static func loadMean(_ path: String, shape chw: [Int], label: String) throws -> [Float] {
        let what = "\(label): transform_param.mean_file '\(path)'"
        guard FileManager.default.fileExists(atPath: path) else {
            throw SparkNetError("\(what) not found (relative to the current directory \(FileManager.default.currentDirectoryPath))")
        }
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw SparkNetError("\(what) cannot be read")
        }
        let proto: Caffe_BlobProto
        do {
            proto = try Caffe_BlobProto(serializedBytes: bytes)
        } catch {
            throw SparkNetError("\(what) is not a BlobProto (.binaryproto): \(error)")
        }
        let declared = BlobCodec.shape(of: proto)
        let count = try BlobCodec.count(of: proto, what: what)
        let values = proto.doubleData.isEmpty ? proto.data : proto.doubleData.map { Float($0) }
        try require(!declared.isEmpty && values.count == count && count > 0,
                    "\(what) is not a BlobProto (.binaryproto) holding a mean image: shape \(declared), \(values.count) values")
        // Caffe compares channels/height/width (legacy axes); num must be 1 for a single image.
        let padded = Array(repeating: 1, count: max(0, 4 - declared.count)) + declared
        try require(padded.count == 4 && padded[0] == 1 && Array(padded[1...]) == chw,
                    "\(what) has shape \(declared.map(String.init).joined(separator: "×")), but the data samples are \(chw.map(String.init).joined(separator: "×")) (C×H×W, before cropping)")
        return values
    }

    /// Transforms one sample. `sampleKey` seeds this sample's random draws (crop offset, mirror), so the result depends on nothing else: same bits at any thread count and after resume.
    ///
    /// `input` holds C×H×W bytes (values 0…255, not rescaled); `out` receives `outputShape`.
    public func transform(_ input: UnsafePointer<UInt8>, into out: UnsafeMutablePointer<Float>, sampleKey: UInt64) {
        apply(input, into: out, sampleKey: sampleKey) { Float($0) }
    }

    /// Transforms one sample of C×H×W floats into `outputShape` floats; see the bytes variant.
    public func transform(_ input: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, sampleKey: UInt64) {
        apply(input, into: out, sampleKey: sampleKey) { $0 }
    }

    /// The draws for `sampleKey`, in Caffe's order (mirror, then the crop's row, then column).
    func draws(sampleKey: UInt64) -> (mirror: Bool, hOff: Int, wOff: Int) {
        var rng = RandomGenerator(seed: sampleKey)
        let mirror = mayMirror && rng.index(below: 2) == 1
        if randomCrop {
            let h = rng.index(below: height - outHeight + 1)
            let w = rng.index(below: width - outWidth + 1)
            return (mirror, h, w)
        }
        return (mirror, (height - outHeight) / 2, (width - outWidth) / 2)
    }

    @inline(__always)
    private func apply<T>(_ input: UnsafePointer<T>, into out: UnsafeMutablePointer<Float>,
                          sampleKey: UInt64, _ value: (T) -> Float) {
        let (mirror, hOff, wOff) = draws(sampleKey: sampleKey)
        let scale = scale, outWidth = outWidth
        // Mirrored rows are written right to left.
        let step = mirror ? -1 : 1
        for c in 0..<channels {
            let channelMean = meanValues?[c] ?? 0
            for h in 0..<outHeight {
                let src = (c * height + hOff + h) * width + wOff
                var o = (c * outHeight + h) * outWidth + (mirror ? outWidth - 1 : 0)
                // Both forms are Caffe's (x − mean) × scale (x − 0 = x exactly without a mean).
                if let meanImage {
                    meanImage.withUnsafeBufferPointer { mean in
                        for w in 0..<outWidth {
                            out[o] = (value(input[src + w]) - mean[src + w]) * scale
                            o += step
                        }
                    }
                } else {
                    for w in 0..<outWidth {
                        out[o] = (value(input[src + w]) - channelMean) * scale
                        o += step
                    }
                }
            }
        }
    }
}
