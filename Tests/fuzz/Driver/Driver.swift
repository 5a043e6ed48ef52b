import Foundation
import SparkNetFuzz

// Built two ways. With `-DFUZZING --sanitize=fuzzer` (make fuzz) libFuzzer owns main and calls
// LLVMFuzzerTestOneInput with its mutations; SPARKNET_FUZZ_TARGET names the target. Without,
// `sparknet-fuzz TARGET PATH...` runs every file (or every file in each directory) once.

private let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["SPARKNET_FUZZ_TARGET"] ?? ""
    guard let t = FuzzTarget(rawValue: name) else {
        fatalError("set SPARKNET_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    target.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#if !FUZZING
@main
struct Replay {
    static func main() throws {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let t = FuzzTarget(rawValue: name), args.count > 1 else {
            print("usage: sparknet-fuzz TARGET FILE|DIR... (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
            exit(64)
        }
        var files: [String] = []
        for path in args.dropFirst() {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                files += try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { "\(path)/\($0)" }
            } else {
                files.append(path)
            }
        }
        for file in files {
            let verdict = try t.run(file: file)
            print("\(file): \(verdict.map { "error: \($0)" } ?? "ok")")
        }
    }
}
#endif
