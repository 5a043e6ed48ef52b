import Foundation
import SparkNet
@testable import SparkNetMPI
import Testing

/// An IDX file of unsigned bytes: magic 00 00 08 nd, big-endian dims, payload.
private func idx(_ dims: [Int], _ bytes: [UInt8]) -> Data {
    var d = Data([0, 0, 8, UInt8(dims.count)])
    for x in dims { d.append(contentsOf: [UInt8(x >> 24 & 255), UInt8(x >> 16 & 255), UInt8(x >> 8 & 255), UInt8(x & 255)]) }
    d.append(contentsOf: bytes)
    return d
}

@Suite(.serialized)
struct IDXConverterTests {
    init() { MPIEnvironment.initialize() }

    @Test func convertsImagesAndLabels() throws {
        let dir = NSTemporaryDirectory() + "sparknet-idx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let pixels = (0..<(3 * 2 * 2)).map { UInt8($0 * 20) }
        try idx([3, 2, 2], pixels).write(to: URL(fileURLWithPath: dir + "/img"))
        try idx([3], [7, 0, 9]).write(to: URL(fileURLWithPath: dir + "/lab"))
        let s = try IDXConverter.convert(images: dir + "/img", labels: dir + "/lab", output: dir + "/out.h5", scale: 0.5)
        #expect(s.count == 3 && s.height == 2 && s.width == 2 && s.labelRange == 0...9)
        let sets = try HDF5Contents.datasets(in: dir + "/out.h5")
        #expect(sets.map(\.path) == ["data", "label"])
        #expect(sets[0].shape == [3, 1, 2, 2])
        #expect(sets[0].values == pixels.map { Float($0) * 0.5 })
        #expect(sets[1].values == [7, 0, 9])
        // Nothing but the output is left in the directory (the temp file was renamed).
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["img", "lab", "out.h5"])
    }

    @Test func refusesBadFilesAndLeavesNothing() throws {
        let dir = NSTemporaryDirectory() + "sparknet-idx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try idx([3, 2, 2], [UInt8](repeating: 1, count: 11)).write(to: URL(fileURLWithPath: dir + "/short"))
        try idx([3, 2, 2], [UInt8](repeating: 1, count: 12)).write(to: URL(fileURLWithPath: dir + "/img"))
        try idx([4], [1, 2, 3, 4]).write(to: URL(fileURLWithPath: dir + "/lab4"))
        func message(_ images: String, _ labels: String) -> String {
            do {
                try IDXConverter.convert(images: dir + "/" + images, labels: dir + "/" + labels, output: dir + "/out.h5")
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(message("short", "lab4").contains("11 bytes of data, expected 12"))
        #expect(message("img", "lab4").contains("4 labels"))
        #expect(message("img", "nope").contains("nope"))
        #expect(message("lab4", "img").contains("expected images"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["img", "lab4", "short"])
    }
}
