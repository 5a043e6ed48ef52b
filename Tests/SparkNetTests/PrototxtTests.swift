import Foundation
import Testing
import CaffeProto
@testable import SparkNet

/// Syntax errors in prototxt files name the file, line and column, and what was expected.
@Suite struct PrototxtTests {
    static let lenet = """
    name: "LeNet"
    layer {
      name: "data"
      type: "Input"
      top: "data"
      input_param { shape { dim: 64 dim: 1 dim: 28 dim: 28 } }
    }
    layer {
      name: "conv1"
      type: "Convolution"
      bottom: "data"
      top: "conv1"
      convolution_param {
        num_output: 20
        kernel_size: 5
      }
    }

    """

    /// Writes `text` to a fresh file and returns the error `read` throws for it.
    func error(_ text: String, name: String = "lenet.prototxt",
               read: (String) throws -> Void = { _ = try Prototxt.readNet($0) }) throws -> String {
        let dir = NSTemporaryDirectory() + "prototxt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            try read(path)
        } catch let e as SparkNetError {
            #expect(e.message.hasPrefix(path + ":"), "message starts with the file: \(e.message)")
            #expect(!e.message.contains("\n"), "one line: \(e.message)")
            return String(e.message.dropFirst(dir.count + 1))
        }
        Issue.record("expected an error for:\n\(text)")
        return ""
    }

    @Test func validFileParses() throws {
        let net = try Prototxt.parse(Self.lenet, as: Caffe_NetParameter.self, path: "lenet.prototxt")
        #expect(net.layer.map(\.name) == ["data", "conv1"])
        #expect(net.layer[1].convolutionParam.numOutput == 20)
    }

    @Test func misspeltFieldNamesLineColumnAndMessage() throws {
        let msg = try error(Self.lenet.replacingOccurrences(of: "num_output", with: "num_ouput"))
        #expect(msg.hasPrefix("lenet.prototxt:14:5: unknown field 'num_ouput' in ConvolutionParameter"), "\(msg)")
        #expect(msg.contains("did you mean 'num_output'?"), "\(msg)")
        #expect(msg.contains("swift-protobuf: unknownField"), "\(msg)")
    }

    @Test func missingClosingBrace() throws {
        // Drop the "  }" that closes convolution_param (line 16): the last '}' closes it, and
        // the layer opened on line 8 is left open.
        var lines = Self.lenet.components(separatedBy: "\n")
        #expect(lines[15] == "  }")
        lines.remove(at: 15)
        let msg = try error(lines.joined(separator: "\n"))
        #expect(msg.hasPrefix("lenet.prototxt:17:1: expected '}' to close 'layer {' (line 8, column 1"), "\(msg)")
        #expect(msg.contains("found end of file"), "\(msg)")
    }

    @Test func badEnumValue() throws {
        let text = Self.lenet.replacingOccurrences(of: "kernel_size: 5", with: "kernel_size: 5 engine: FASTEST")
        let msg = try error(text)
        #expect(msg.hasPrefix("lenet.prototxt:15:28: unknown value 'FASTEST' for field 'engine' of ConvolutionParameter"), "\(msg)")
        #expect(msg.contains("DEFAULT, CAFFE, CUDNN"), "\(msg)")
        #expect(msg.contains("unrecognizedEnumValue"), "\(msg)")
    }

    @Test func badNumberSaysWhatWasExpected() throws {
        let msg = try error(Self.lenet.replacingOccurrences(of: "num_output: 20", with: "num_output: four"))
        #expect(msg.hasPrefix("lenet.prototxt:14:17: invalid value 'four' for field 'num_output' of ConvolutionParameter; expected a non-negative integer"), "\(msg)")
    }

    @Test func structuralFaults() throws {
        let colon = try error("layer { name: \"a\" type: \"Input\" top \"x\" }")
        #expect(colon.hasPrefix("lenet.prototxt:1:37: expected ':' after field name 'top'"), "\(colon)")
        #expect(try error("layer { name: \"a\n").hasPrefix("lenet.prototxt:1:15: unterminated string"))
        #expect(try error("layer { name: \"a\" }}").hasPrefix("lenet.prototxt:1:20: unexpected '}'"))
        #expect(try error("layer { inner_product_param: 5 }")
            .hasPrefix("lenet.prototxt:1:30: field 'inner_product_param' of LayerParameter is a message InnerProductParameter; expected 'inner_product_param { ... }'"))
        #expect(try error("layer { name: \"a\" bottom: { } }")
            .hasPrefix("lenet.prototxt:1:27: field 'bottom' of LayerParameter is a quoted string, not a message"))
        #expect(try error("layer { name = \"a\" }").hasPrefix("lenet.prototxt:1:14: unexpected character '='"))
    }

    @Test func solverErrorsNestedMessages() throws {
        let read: (String) throws -> Void = { _ = try Prototxt.readSolver($0) }
        let msg = try error("base_lr: 0.1\nsolver_type: ADAMM\n", name: "solver.prototxt", read: read)
        #expect(msg.hasPrefix("solver.prototxt:2:14: unknown value 'ADAMM' for field 'solver_type' of SolverParameter"), "\(msg)")
        #expect(msg.contains("did you mean ADAM?"), "\(msg)")
        let nested = try error("net_param {\n  layer { name: \"x\" typ: \"y\" }\n}\n", name: "solver.prototxt", read: read)
        #expect(nested.hasPrefix("solver.prototxt:2:21: unknown field 'typ' in LayerParameter (did you mean 'type'"), "\(nested)")
    }

    @Test func emptyFilesAreRefused() throws {
        let msg = try error("# only a comment\n\n   \n")
        #expect(msg.contains("the net file is empty"), "\(msg)")
        let solver = try error("", name: "s.prototxt", read: { _ = try Prototxt.readSolver($0) })
        #expect(solver.contains("the solver file is empty"), "\(solver)")
    }

    @Test func unknownFieldsStayErrors() throws {
        // Caffe refuses unknown fields; so do we, even where swift-protobuf could skip them.
        #expect(throws: SparkNetError.self) {
            _ = try Prototxt.parse("name: \"x\" java_data_param { }", as: Caffe_NetParameter.self, path: "n")
        }
    }

    /// Caffe: `Non-repeated field "X" is specified multiple times.` swift-protobuf alone keeps
    /// the last value.
    @Test func singularFieldGivenTwiceIsRefused() throws {
        let net = try error(Self.lenet.replacingOccurrences(of: "    kernel_size: 5", with: "    kernel_size: 5\n    num_output: 30"))
        #expect(net.hasPrefix("lenet.prototxt:16:5: non-repeated field 'num_output' of ConvolutionParameter is specified multiple times (first at line 14, column 5)"), "\(net)")
        let name = try error("name: \"a\"\nlayer { name: \"x\" type: \"Input\" }\nname: \"b\"\n")
        #expect(name.hasPrefix("lenet.prototxt:3:1: non-repeated field 'name' of NetParameter"), "\(name)")
        // A singular message given twice, in a layer.
        let message = try error("layer { name: \"x\" type: \"Input\" input_param { } input_param { } }\n")
        #expect(message.hasPrefix("lenet.prototxt:1:49: non-repeated field 'input_param' of LayerParameter"), "\(message)")
        let read: (String) throws -> Void = { _ = try Prototxt.readSolver($0) }
        let solver = try error("base_lr: 0.1\nmax_iter: 10\nbase_lr: 0.2\n", name: "solver.prototxt", read: read)
        #expect(solver.hasPrefix("solver.prototxt:3:1: non-repeated field 'base_lr' of SolverParameter is specified multiple times (first at line 1, column 1)"), "\(solver)")
        // Inside a net given in the solver.
        let nested = try error("net_param { layer { name: \"x\" name: \"y\" } }\n", name: "solver.prototxt", read: read)
        #expect(nested.hasPrefix("solver.prototxt:1:31: non-repeated field 'name' of LayerParameter"), "\(nested)")
    }

    /// Repeated fields (layers, bottoms, dims, stepvalues, packed blob data) may repeat, in any
    /// scope, and the same singular name in sibling scopes is no duplicate.
    @Test func repeatedFieldsAndSiblingScopesStayValid() throws {
        let net = try Prototxt.parse(Self.lenet + """
            layer { name: "c" type: "Concat" bottom: "data" bottom: "conv1" top: "c" top: "d"
              param { lr_mult: 1 } param { lr_mult: 2 } include { phase: TRAIN } include { phase: TEST }
              blobs { shape { dim: 2 dim: 1 } data: 1 data: 2 } blobs { data: [3, 4] }
              exclude: { stage: "a" stage: "b" } }
            """, as: Caffe_NetParameter.self, path: "n")
        #expect(net.layer.count == 3 && net.layer[2].bottom == ["data", "conv1"] && net.layer[2].blobs[0].data == [1, 2])
        let solver = try Prototxt.parse("lr_policy: \"multistep\" stepvalue: 10 stepvalue: 20 test_iter: 1 test_iter: 2 test_net: \"a\" test_net: \"b\"",
                                        as: Caffe_SolverParameter.self, path: "s")
        #expect(solver.stepvalue == [10, 20] && solver.testIter == [1, 2])
    }
}
