import Foundation
import SparkNet
@testable import SparkNetMPI
import Testing

/// Fixtures made with PIL (base64): a 3×2 RGB PNG, a 2×2 gray PNG, an 8×8 JPEG of one colour.
private enum Fixture {
    /// Rows (R,G,B): [red, green, blue], [(10,20,30), (200,100,50), (7,8,9)].
    static let png = bytes("iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAIAAAASFvFNAAAAF0lEQVR4nGP4z8DAAMFcInInUozYOTgBNk0EsBGvPNQAAAAASUVORK5CYII=")
    /// Gray rows [0, 50], [100, 250].
    static let grayPNG = bytes("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAAAAABX3VL4AAAADklEQVR4nGNgMGJI+QUAApABkV/tQlcAAAAASUVORK5CYII=")
    /// Every pixel RGB (200, 100, 50), quality 100 (decodes exactly).
    static let jpeg = bytes("/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQH/2wBDAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQH/wAARCAAIAAgDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDn6KKK/wArz/bA/9k=")
    static func bytes(_ b64: String) -> [UInt8] { [UInt8](Data(base64Encoded: b64)!) }
}

/// The message of the SparkNetError `body` throws ("" if it does not throw).
private func errorMessage(_ body: () throws -> Void) -> String {
    do { try body() } catch let e as SparkNetError { return e.message } catch { return "\(error)" }
    return ""
}

private func shape(_ i: DecodedImage) -> [Int] { [i.channels, i.height, i.width] }

struct ImageCodecTests {
    @Test func pngDecodesToBGRPlanes() throws {
        let img = try ImageCodec.decode(Fixture.png, gray: false, source: "t.png")
        #expect(shape(img) == [3, 2, 3])
        // Plane 0 is blue, 1 green, 2 red; within a plane, row-major.
        #expect(img.pixels == [0, 0, 255, 30, 50, 9,
                               0, 255, 0, 20, 100, 8,
                               255, 0, 0, 10, 200, 7])
    }

    @Test func grayUsesOpenCVWeights() throws {
        let img = try ImageCodec.decode(Fixture.png, gray: true, source: "t.png")
        #expect(shape(img) == [1, 2, 3])
        // (R·4899 + G·9617 + B·1868 + 8192) >> 14: red 76, green 150, blue 29.
        #expect(img.pixels == [76, 150, 29, 18, 124, 8])   // (10, 20, 30) → 18.65 → 18
        let g = try ImageCodec.decode(Fixture.grayPNG, gray: true, source: "g.png")
        #expect(g.channels == 1 && g.pixels == [0, 50, 100, 250])
        let c = try ImageCodec.decode(Fixture.grayPNG, gray: false, source: "g.png")
        #expect(c.channels == 3 && c.pixels == [0, 50, 100, 250, 0, 50, 100, 250, 0, 50, 100, 250])
    }

    @Test func jpegDecodesToBGRPlanes() throws {
        let img = try ImageCodec.decode(Fixture.jpeg, gray: false, source: "t.jpg")
        #expect(shape(img) == [3, 8, 8])
        #expect(img.pixels[0..<64].allSatisfy { $0 == 50 })
        #expect(img.pixels[64..<128].allSatisfy { $0 == 100 })
        #expect(img.pixels[128..<192].allSatisfy { $0 == 200 })
        let gray = try ImageCodec.decode(Fixture.jpeg, gray: true, source: "t.jpg")
        #expect(gray.channels == 1 && gray.pixels.allSatisfy { abs(Int($0) - 124) <= 1 })
    }

    @Test func badBytesAreErrorsNamingTheSource() {
        let garbage = errorMessage { _ = try ImageCodec.decode(Array("hello".utf8), gray: false, source: "list:3 'x.jpg'") }
        #expect(garbage.hasPrefix("list:3 'x.jpg': not a JPEG or PNG"))
        #expect(errorMessage { _ = try ImageCodec.decode([], gray: false, source: "e") }.contains("not a JPEG or PNG"))
        let truncated = errorMessage { _ = try ImageCodec.decode(Array(Fixture.jpeg.prefix(400)), gray: false, source: "t.jpg") }
        #expect(truncated.hasPrefix("t.jpg: truncated JPEG"))
        let png = errorMessage { _ = try ImageCodec.decode(Array(Fixture.png.prefix(40)), gray: false, source: "t.png") }
        #expect(png.hasPrefix("t.png:") && png.contains("PNG"))
        var flipped = Fixture.png
        flipped[20] ^= 0xFF   // the IHDR's CRC no longer matches
        #expect(errorMessage { _ = try ImageCodec.decode(flipped, gray: false, source: "f.png") }.hasPrefix("f.png: corrupt PNG"))
    }

    @Test func resizeIsBilinearOnPixelCentres() {
        // 2×2 → 3×3: source x = (d + 0.5)·2/3 − 0.5 = −1/6 (clamped to 0), 1/2, 7/6 (clamped to 1).
        let src = DecodedImage(channels: 1, height: 2, width: 2, pixels: [0, 100, 200, 255])
        let r = ImageCodec.resize(src, height: 3, width: 3)
        #expect(r.pixels == [0, 50, 100,
                             100, 139, 178,    // 138.75, 177.5 round to nearest
                             200, 228, 255])
        // 4×1 → 2×1 averages pairs (source y = 0.5, 2.5); channels stay apart.
        let two = DecodedImage(channels: 2, height: 4, width: 1, pixels: [0, 10, 20, 30, 1, 3, 5, 7])
        #expect(ImageCodec.resize(two, height: 2, width: 1).pixels == [5, 25, 2, 6])
        #expect(ImageCodec.resize(src, height: 2, width: 2) == src)
    }
}

struct ImageListTests {
    @Test func labelIsTheLastTokenAndErrorsNameTheLine() throws {
        let dir = NSTemporaryDirectory() + "sparknet-list-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "a b/c d.jpg 3\n\nx.png\t-1\n".write(toFile: dir + "/l.txt", atomically: true, encoding: .utf8)
        let e = try ImageSetConverter.readList(dir + "/l.txt")
        #expect(e == [.init(line: 1, path: "a b/c d.jpg", label: 3), .init(line: 3, path: "x.png", label: -1)])
        try "a.jpg 1\nb.jpg x\n".write(toFile: dir + "/bad.txt", atomically: true, encoding: .utf8)
        #expect(errorMessage { _ = try ImageSetConverter.readList(dir + "/bad.txt") } == "\(dir)/bad.txt:2: label 'x' is not an integer")
        let s = ImageSetConverter.shuffled(e + e)
        #expect(s == ImageSetConverter.shuffled(e + e) && s.count == 4)
    }

    @Test func lmdbRoundTripInKeyOrder() throws {
        let dir = NSTemporaryDirectory() + "sparknet-lmdb-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A batch of 2 and records larger than the first map size exercise commits and growth.
        let w = try LMDBWriter(path: dir, batch: 2)
        let big = [UInt8](repeating: 7, count: 80 << 20)   // beyond the first 64 MiB map
        for k in ["b", "a", "c"] { try w.put(key: Array(k.utf8), value: k == "c" ? big : Array(k.utf8)) }
        try w.close()
        #expect(w.mapSize >= 128 << 20)
        let r = try LMDBReader(path: dir)
        #expect(r.count == 3)
        var keys: [String] = []
        try r.forEach { k, v in keys.append(String(decoding: k, as: UTF8.self)); return keys.count < 2 }
        #expect(keys == ["a", "b"])
        #expect(try r.record(at: 2).value.count == big.count)
        #expect(errorMessage { _ = try LMDBReader(path: dir + "/nope") }.contains("not found"))
    }
}
