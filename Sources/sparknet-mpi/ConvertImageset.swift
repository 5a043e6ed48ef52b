import ArgumentParser
import Foundation
import SparkNet
import SparkNetMPI

/// `sparknet-mpi convert-imageset`: Caffe's convert_imageset (same flag spellings).
struct ConvertImageset: Verb {
    static let configuration = CommandConfiguration(
        commandName: "convert-imageset",
        abstract: "Convert a list of JPEG/PNG images with labels to an HDF5 file (HDF5Data) or an LMDB of Datums (Data).",
        discussion: """
            LIST holds one `relative/path label` per line (the label is the last token, so paths \
            may contain spaces); paths are relative to ROOT. HDF5 (the default) writes `data` \
            uint8 N×C×H×W (BGR, or 1 gray channel) and `label` float32 N; under mpirun every rank \
            decodes a slice of the list and all write one file. LMDB writes Caffe Datums under \
            keys %08d_path from rank 0. Unreadable images are skipped and counted (--strict: \
            fail). Output appears only when complete (temporary name, then rename).
            """)

    @Argument(help: "Root folder of the images.") var root: String
    @Argument(help: "List file: `relative/path label` per line.") var list: String
    @Argument(help: "Output: an .h5 file, or an LMDB directory (--backend lmdb).") var output: String

    @Option(name: .customLong("resize_height"), help: "Resize images to this height (with --resize_width).")
    var resizeHeight = 0
    @Option(name: .customLong("resize_width"), help: "Resize images to this width (with --resize_height).")
    var resizeWidth = 0
    @Flag(name: .customLong("shuffle"), help: "Shuffle the list (fixed seed \(ImageSetConverter.shuffleSeed): reproducible).")
    var shuffle = false
    @Flag(name: .customLong("gray"), help: "Decode as one gray channel.")
    var gray = false
    @Flag(name: .customLong("check_size"), help: "LMDB: require one image size (HDF5 always does).")
    var checkSize = false
    @Option(name: .customLong("backend"), help: "hdf5 (default) or lmdb.")
    var backend = "hdf5"
    @Flag(name: .customLong("encoded"), help: "LMDB: store each image file's own bytes (Datum.encoded).")
    var encoded = false
    @Option(name: .customLong("encode_type"), help: "LMDB with --encoded: require this format (jpg or png).")
    var encodeType = ""
    @Flag(name: .customLong("strict"), help: "Fail on the first unreadable image instead of skipping it.")
    var strict = false

    func run() throws {
        var o = ImageSetConverter.Options()
        o.resizeHeight = resizeHeight
        o.resizeWidth = resizeWidth
        o.shuffle = shuffle
        o.gray = gray
        o.checkSize = checkSize
        o.encoded = encoded
        o.encodeType = encodeType
        o.strict = strict
        guard let b = ImageSetConverter.Backend(rawValue: backend) else {
            throw SparkNetError("--backend '\(backend)': expected hdf5 or lmdb")
        }
        o.backend = b
        let world = Communicator.world
        let summary: ImageSetConverter.Summary
        if b == .lmdb {
            // One LMDB writer: rank 0 converts, the others wait for its outcome.
            var s: ImageSetConverter.Summary?
            try world.agreeOnRoot(timeout: .infinity) {
                s = try ImageSetConverter.convert(root: root, list: list, output: output, options: o,
                                                  group: Solo(), log: Log.info)
            }
            guard let s else { return }
            summary = s
        } else {
            summary = try ImageSetConverter.convert(root: root, list: list, output: output, options: o,
                                                    group: world, log: Log.info)
        }
        Log.info("Wrote \(output) (\(backend)): \(summary.written) of \(summary.total) images, \(summary.shape.map(String.init).joined(separator: "×"))\(summary.written < summary.total ? "; skipped \(summary.total - summary.written)" : "")")
    }
}

/// `sparknet-mpi compute-image-mean`: Caffe's compute_image_mean.
struct ComputeImageMean: Verb {
    static let configuration = CommandConfiguration(
        commandName: "compute-image-mean",
        abstract: "Write the per-pixel mean of an image data set as a Caffe BlobProto (mean_file).",
        discussion: "INPUT is an .h5 file with dataset `data` (N×C×H×W) or an LMDB directory of Datums.")

    @Argument(help: "An .h5 file from convert-imageset, or an LMDB directory of Datums.") var input: String
    @Argument(help: "Output .binaryproto.") var output: String

    func run() throws {
        try Communicator.world.agreeOnRoot(timeout: .infinity) {
            let (shape, mean, n) = try ImageMean.compute(input)
            try ImageMean.write(shape: shape, mean: mean, to: output)
            let plane = shape[1] * shape[2]
            for c in 0..<shape[0] {
                let m = mean[(c * plane)..<((c + 1) * plane)].reduce(0, +) / Float(plane)
                Log.info("mean_value channel [\(c)]: \(m)")
            }
            Log.info("Wrote \(output): mean of \(n) images, 1×\(shape.map(String.init).joined(separator: "×"))")
        }
    }
}
