import Foundation
import CaffeProto
import SwiftProtobuf

/// Reads Caffe's text-format files (net and solver prototxt) unchanged. Like Caffe's parser it
/// refuses unknown fields and a non-repeated field given twice; unlike swift-protobuf alone, its
/// errors say where:
/// `lenet.prototxt:12:5: unknown field 'num_ouput' in ConvolutionParameter (did you mean 'num_output'?)`.
public enum Prototxt {
    static func readText(_ path: String, what: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw SparkNetError("\(path): \(what) file not found")
        }
        guard !isDir.boolValue else { throw SparkNetError("\(path): is a directory, expected a \(what) prototxt file") }
        guard let data = FileManager.default.contents(atPath: path),
              let text = String(data: data, encoding: .utf8) else {
            throw SparkNetError("\(path): cannot read the \(what) file (not UTF-8 text?)")
        }
        return text
    }

    /// Parses a NetParameter from `path` (not upgraded: `Net` and `NetUpgrade` do that).
    public static func readNet(_ path: String) throws -> Caffe_NetParameter {
        let text = try readText(path, what: "net")
        try require(!isBlank(text),
                    "\(path): the net file is empty (only whitespace or comments); expected a NetParameter in Caffe's text format, e.g. layer { name: \"data\" type: \"Input\" ... }")
        return try parse(text, as: Caffe_NetParameter.self, path: path)
    }

    /// Parses a SolverParameter from `path` (not upgraded: `Solver` and `SolverUpgrade` do that).
    public static func readSolver(_ path: String) throws -> Caffe_SolverParameter {
        let text = try readText(path, what: "solver")
        try require(!isBlank(text),
                    "\(path): the solver file is empty (only whitespace or comments); expected a SolverParameter in Caffe's text format, e.g. net: \"train_val.prototxt\" base_lr: 0.01 ...")
        return try parse(text, as: Caffe_SolverParameter.self, path: path)
    }

    /// Parses `text` as `M`; a syntax error names `path`, the line and column, and what was
    /// expected there, followed by swift-protobuf's own error.
    public static func parse<M: SwiftProtobuf.Message>(_ text: String, as: M.Type, path: String) throws -> M {
        let message: M
        do {
            message = try M(textFormatString: text)
        } catch {
            let name = PrototxtLocator.messageName(M.self)
            if let located = PrototxtLocator.locate(text, as: M.self) {
                throw SparkNetError("\(path):\(located) [swift-protobuf: \(error) while parsing \(name)]")
            }
            throw SparkNetError("\(path): syntax error while parsing \(name) (position unknown) [swift-protobuf: \(error)]")
        }
        if let duplicate = PrototxtLocator.duplicateField(text, as: M.self) {
            throw SparkNetError("\(path):\(duplicate)")
        }
        return message
    }

    /// Parses a net definition given as text (`path` names it in errors).
    public static func parseNet(_ text: String, path: String = "<net text>") throws -> Caffe_NetParameter {
        try parse(text, as: Caffe_NetParameter.self, path: path)
    }

    /// Parses solver settings given as text (`path` names it in errors).
    public static func parseSolver(_ text: String, path: String = "<solver text>") throws -> Caffe_SolverParameter {
        try parse(text, as: Caffe_SolverParameter.self, path: path)
    }

    /// Whether `text` holds nothing but whitespace and `#` comments.
    static func isBlank(_ text: String) -> Bool {
        text.split(whereSeparator: \.isNewline).allSatisfy { line in
            let t = line.drop { $0.isWhitespace || $0 == "\u{FEFF}" }
            return t.isEmpty || t.first == "#"
        }
    }
}
