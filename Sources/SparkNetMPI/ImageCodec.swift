import CJPEG
import CPNG
import Foundation
import SparkNet

/// A decoded image: `pixels` is C×H×W uint8, channels in BGR order (as Caffe/OpenCV store them),
/// or 1 channel for gray.
public struct DecodedImage: Sendable, Equatable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var pixels: [UInt8]
    public init(channels: Int, height: Int, width: Int, pixels: [UInt8]) {
        self.channels = channels
        self.height = height
        self.width = width
        self.pixels = pixels
    }
}

/// JPEG and PNG decoding (libjpeg-turbo, libpng) and resizing, matching what Caffe's tools get
/// from OpenCV's `imread`/`resize`.
public enum ImageCodec {
    /// The largest image decoded, in pixels (2^27, e.g. 11585×11585): a corrupt header must not
    /// make a few bytes ask for gigabytes.
    public static let maxPixels = 1 << 27

    /// Decodes JPEG or PNG (told apart by magic bytes); `gray` converts to 1 channel (as
    /// cv::IMREAD_GRAYSCALE), else 3 channels BGR. `source` names the file/record in errors.
    public static func decode(_ bytes: [UInt8], gray: Bool, source: String) throws -> DecodedImage {
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return try decodeJPEG(bytes, gray: gray, source: source) }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            return try decodePNG(bytes, gray: gray, source: source)
        }
        let head = bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw SparkNetError("\(source): not a JPEG or PNG (\(bytes.count) bytes, starting \(head.isEmpty ? "with nothing" : head))")
    }

    private static func decodeJPEG(_ bytes: [UInt8], gray: Bool, source: String) throws -> DecodedImage {
        var w: Int32 = 0, h: Int32 = 0, c: Int32 = 0
        var err = [CChar](repeating: 0, count: 256)
        guard let out = bytes.withUnsafeBufferPointer({
            cjpeg_decode($0.baseAddress, UInt(bytes.count), gray ? 1 : 0, UInt64(maxPixels), &w, &h, &c, &err, err.count)
        }) else {
            let message = String(cBuffer: err)
            if message.contains("larger than the limit") || message.contains("CMYK") { throw SparkNetError("\(source): JPEG \(message)") }
            let truncated = message.contains("Premature end")
            throw SparkNetError("\(source): \(truncated ? "truncated JPEG" : "corrupt JPEG") (libjpeg: \(message))")
        }
        defer { free(out) }
        // libjpeg gives RGB or gray rows (H×W×C); Caffe wants planes (C×H×W) in BGR order.
        return planar(out, height: Int(h), width: Int(w), inChannels: Int(c), gray: gray)
    }

    private static func decodePNG(_ bytes: [UInt8], gray: Bool, source: String) throws -> DecodedImage {
        var w: Int32 = 0, h: Int32 = 0
        var err = [CChar](repeating: 0, count: 256)
        guard let out = bytes.withUnsafeBufferPointer({
            cpng_decode_rgba($0.baseAddress, bytes.count, UInt64(maxPixels), &w, &h, &err, err.count)
        }) else {
            let message = String(cBuffer: err)
            if message.contains("larger than the limit") { throw SparkNetError("\(source): PNG \(message)") }
            let truncated = message.contains("EOF") || message.contains("end of") || message.contains("Read Error")
            throw SparkNetError("\(source): \(truncated ? "truncated PNG" : "corrupt PNG") (libpng: \(message))")
        }
        defer { free(out) }
        // RGBA, alpha dropped (OpenCV strips it rather than compositing).
        return planar(out, height: Int(h), width: Int(w), inChannels: 4, gray: gray)
    }

    /// Interleaved RGB(A) or gray rows to C×H×W planes: BGR, or gray by OpenCV's fixed-point
    /// RGB→gray weights (0.299, 0.587, 0.114 in 14 bits, rounded).
    private static func planar(_ src: UnsafePointer<UInt8>, height: Int, width: Int,
                               inChannels: Int, gray: Bool) -> DecodedImage {
        let hw = height * width
        if inChannels == 1 {
            return DecodedImage(channels: 1, height: height, width: width,
                                pixels: Array(UnsafeBufferPointer(start: src, count: hw)))
        }
        var pixels = [UInt8](repeating: 0, count: (gray ? 1 : 3) * hw)
        for i in 0..<hw {
            let r = Int(src[i * inChannels]), g = Int(src[i * inChannels + 1]), b = Int(src[i * inChannels + 2])
            if gray {
                pixels[i] = UInt8((r * 4899 + g * 9617 + b * 1868 + 8192) >> 14)
            } else {
                pixels[i] = UInt8(b)
                pixels[hw + i] = UInt8(g)
                pixels[2 * hw + i] = UInt8(r)
            }
        }
        return DecodedImage(channels: gray ? 1 : 3, height: height, width: width, pixels: pixels)
    }

    /// Bilinear resize with OpenCV INTER_LINEAR's pixel-centre convention (cv::resize), rounding
    /// to nearest. Source coordinate `(d + 0.5) · src/dst − 0.5`, clamped to the edge pixels.
    /// Weights are exact (OpenCV uses 11-bit fixed point), so a value may differ from OpenCV's by 1.
    public static func resize(_ image: DecodedImage, height: Int, width: Int) -> DecodedImage {
        if image.height == height && image.width == width { return image }
        let xs = taps(dst: width, src: image.width)
        let ys = taps(dst: height, src: image.height)
        let (sh, sw) = (image.height, image.width)
        var out = [UInt8](repeating: 0, count: image.channels * height * width)
        image.pixels.withUnsafeBufferPointer { p in
            for c in 0..<image.channels {
                let plane = c * sh * sw
                for (y, ty) in ys.enumerated() {
                    let r0 = plane + ty.i0 * sw, r1 = plane + ty.i1 * sw
                    for (x, tx) in xs.enumerated() {
                        let top = Double(p[r0 + tx.i0]) * (1 - tx.f) + Double(p[r0 + tx.i1]) * tx.f
                        let bottom = Double(p[r1 + tx.i0]) * (1 - tx.f) + Double(p[r1 + tx.i1]) * tx.f
                        let v = top * (1 - ty.f) + bottom * ty.f
                        out[(c * height + y) * width + x] = UInt8(min(255, max(0, v.rounded())))
                    }
                }
            }
        }
        return DecodedImage(channels: image.channels, height: height, width: width, pixels: out)
    }

    /// For each destination index: the two source indices and the weight of the second.
    private static func taps(dst: Int, src: Int) -> [(i0: Int, i1: Int, f: Double)] {
        let scale = Double(src) / Double(dst)
        return (0..<dst).map { d in
            let s = (Double(d) + 0.5) * scale - 0.5
            var i0 = Int(s.rounded(.down))
            var f = s - Double(i0)
            if i0 < 0 { i0 = 0; f = 0 }
            if i0 >= src - 1 { i0 = src - 1; f = 0 }
            return (i0, min(i0 + 1, src - 1), f)
        }
    }
}
