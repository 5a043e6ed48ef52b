import CaffeProto
import SparkNet
import Testing

/// Syntax errors in prototxt files name the line and what is wrong there.
@Suite struct PrototxtLocatorTests {
    private func message(_ text: String) -> String {
        do {
            _ = try Prototxt.parse(text, as: Caffe_NetParameter.self, path: "net.prototxt")
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func namesTheLineOfAnUnknownField() {
        let m = message("name: \"x\"\nlayer {\n  name: \"a\"\n  typo: \"ReLU\"\n}\n")
        #expect(m.hasPrefix("net.prototxt: syntax error at line 4 ('typo: \"ReLU\"'): unknown field"), "\(m)")
    }

    @Test func namesTheLineOfAMalformedNumber() {
        let m = message("layer {\n  name: \"c\"\n  convolution_param {\n    num_output: ten\n  }\n}\n")
        #expect(m.contains("line 4 ('num_output: ten'): malformed number"), "\(m)")
    }

    @Test func namesTheLineOfABadEnumAndIgnoresBracesInStringsAndComments() {
        let m = message("# a { comment\nname: \"a { b\"\nlayer {\n  pooling_param { pool: MAXX }\n}\n")
        #expect(m.contains("line 4"), "\(m)")
        #expect(m.contains("unknown enum value"), "\(m)")
    }

    @Test func reportsAnUnclosedBraceAtTheEnd() {
        let m = message("name: \"x\"\nlayer {\n  name: \"a\"\n")
        #expect(m.contains("end of file: 1 unclosed '{' (the last opened at line 2)"), "\(m)")
    }

    @Test func reportsAStrayClosingBrace() {
        let m = message("name: \"x\"\n}\nlayer { name: \"a\" }\n")
        #expect(m.contains("line 2 ('}')"), "\(m)")
    }

    @Test func validTextStillParses() throws {
        let net = try Prototxt.parse("name: \"x\"\nlayer { name: \"a\" type: \"ReLU\" }\n",
                                     as: Caffe_NetParameter.self, path: "net.prototxt")
        #expect(net.layer.count == 1)
    }
}
