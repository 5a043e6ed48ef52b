import Foundation
import CaffeProto
import SwiftProtobuf

/// Reads Caffe's text-format files (net and solver prototxt) unchanged.
public enum Prototxt {
    static func readText(_ path: String, what: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SparkNetError("\(path): \(what) file not found")
        }
        guard let data = FileManager.default.contents(atPath: path),
              let text = String(data: data, encoding: .utf8) else {
            throw SparkNetError("\(path): cannot read the \(what) file (not UTF-8 text?)")
        }
        return text
    }

    /// Parses a NetParameter from `path`.
    public static func readNet(_ path: String) throws -> Caffe_NetParameter {
        let text = try readText(path, what: "net")
        return try parse(text, as: Caffe_NetParameter.self, path: path)
    }

    /// Parses a SolverParameter from `path`.
    public static func readSolver(_ path: String) throws -> Caffe_SolverParameter {
        let text = try readText(path, what: "solver")
        return try parse(text, as: Caffe_SolverParameter.self, path: path)
    }

    public static func parse<M: SwiftProtobuf.Message>(_ text: String, as: M.Type, path: String) throws -> M {
        do {
            return try M(textFormatString: text)
        } catch {
            throw SparkNetError("\(path): syntax error: \(error)")
        }
    }
}
