import Foundation
import SparkNet

/// Caffe's ImageData source: a list file of `path label` lines (the label is the last token, so
/// paths may hold spaces), images decoded by libjpeg-turbo or libpng, optionally resized.
final class ImageListRecords: RecordReader {
    let what: String
    var count: Int { entries.count }
    private let entries: [(path: String, label: Float, line: Int)]
    private let gray: Bool
    private let height: Int
    private let width: Int

    /// `root` is prefixed to every path (image_data_param.root_folder, as Caffe does: plain
    /// concatenation); `height`/`width` > 0 resize (new_height/new_width).
    init(list: String, root: String, gray: Bool, height: Int, width: Int, layer: String) throws {
        what = "image list '\(list)'"
        self.gray = gray
        self.height = height
        self.width = width
        try require((height > 0) == (width > 0),
                    "\(layer): image_data_param sets only one of new_height (\(height)) and new_width (\(width))")
        guard let text = try? String(contentsOfFile: list, encoding: .utf8) else {
            throw SparkNetError("\(layer): image list '\(list)' (image_data_param.source) not found or unreadable")
        }
        var entries: [(String, Float, Int)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            guard let cut = line.lastIndex(where: { $0 == " " || $0 == "\t" }),
                  let label = Int(line[line.index(after: cut)...]) else {
                throw SparkNetError("\(layer): image list '\(list)' line \(i + 1): expected `path label` with an integer label, got '\(line)'")
            }
            entries.append((root + line[..<cut].trimmingCharacters(in: .whitespaces), Float(label), i + 1))
        }
        self.entries = entries
    }

    func read(_ index: Int) throws -> DecodedRecord {
        let e = entries[index]
        let name = "line \(e.line) ('\(e.path)')"
        guard let data = FileManager.default.contents(atPath: e.path) else {
            throw SparkNetError("\(what) \(name): cannot read the image file")
        }
        var img = try ImageCodec.decode([UInt8](data), gray: gray, source: "\(what) \(name)")
        if height > 0 { img = ImageCodec.resize(img, height: height, width: width) }
        return DecodedRecord(shape: [img.channels, img.height, img.width], bytes: img.pixels, label: e.label, name: name)
    }
}
