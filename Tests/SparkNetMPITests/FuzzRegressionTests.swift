import Foundation
import SparkNetFuzz
import Testing

/// The fuzz corpus and every crasher found (Tests/fuzz/corpus, Tests/fuzz/crashers) through the
/// fuzz targets: the valid seeds must read without error, and each crasher must end in a clear
/// error naming the input, or a valid result; a crash fails the whole run.
@Suite(.serialized) struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fuzz").path

    static func files(_ kind: String, _ target: FuzzTarget) -> [String] {
        let dir = "\(root)/\(kind)/\(target.rawValue)"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { "\(dir)/\($0)" }
    }

    @Test(arguments: FuzzTarget.allCases)
    func corpusReadsWithoutError(_ target: FuzzTarget) throws {
        let seeds = Self.files("corpus", target)
        #expect(!seeds.isEmpty, "no seeds for \(target.rawValue)")
        for seed in seeds {
            let error = try target.run(file: seed)
            #expect(error == nil, "\(seed): \(error ?? "")")
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func crashersEndInClearErrors(_ target: FuzzTarget) throws {
        for crasher in Self.files("crashers", target) {
            if let error = try target.run(file: crasher) {
                #expect(error.contains("fuzz") && !error.contains("\n"), "\(crasher): \(error)")
            }
        }
    }

    /// The hand-made cases that could reach an allocation of their claimed size are refused.
    @Test func absurdSizesAreRefusedBeforeAllocating() throws {
        let cases: [(FuzzTarget, String, String)] = [
            (.caffemodel, "packed_data_claims_1e12_floats", "truncated"),
            (.caffemodel, "shape_product_overflows", "declares more values than can exist"),
            (.caffemodel, "shape_1e12_no_values", "1000000000000 values"),
            (.solverstate, "negative_current_step", "must not be negative"),
            // Refused by the storage check: a dataset may exceed memory (it streams), not its file.
            (.hdf5, "dims_1e9_by_1e9", "stores only 0 bytes"),
            (.hdf5, "dims_2e18", "stores only 0 bytes"),
            (.hdf5, "never_written_8gb", "stores only 0 bytes"),
            (.hdf5, "oom-f9c203a956fa3066c5b337ce90cf4e609b96083d", "stores only 384 bytes"),
            // 0 rows of an overflowing sample shape (libFuzzer: an overflow trap in HDF5Layout).
            (.hdf5, "crash-79d577e5ca7154b06ca093bd9bbf0a5e0e19a6d1", "impossible shape [0, 1, 4, 4611686018427387908]"),
            (.hdf5, "sample_2e31_values", "2147483648 values each; a blob holds at most 2147483647"),
            // A chunk index claiming 1.9 GB in a 7 KB file (libFuzzer: H5Dread's collective path
            // built selections for its 8.5 M chunks until 22 GB were resident).
            (.hdf5, "oom-72511909c270656a13b70751f8e01bdac5ba27e0", "declares shape [6, 1, 4, 11337732] but stores only 7376 bytes"),
            (.image, "png_claims_60000x60000", "60000x60000 is larger than the limit"),
            (.image, "jpeg_claims_65000x65000", "65000x65000 is larger than the limit"),
        ]
        for (target, name, expected) in cases {
            let error = try target.run(file: "\(Self.root)/crashers/\(target.rawValue)/\(name)")
            #expect(error?.contains(expected) == true, "\(name): \(error ?? "no error")")
        }
    }

    /// A file on which libhdf5 1.10 divides by zero inside H5Dopen2 (a chunk extent of 0): the
    /// fault is contained (CHDF5Guard) and reported, twice in a row, and good files still read
    /// afterwards in the same process.
    @Test func libraryFaultsBecomeErrors() throws {
        let crasher = "\(Self.root)/crashers/hdf5/crash-160dd47cad2b6cac49eb902afba200c4bc7ee93d"
        for _ in 0..<2 {
            let error = try FuzzTarget.hdf5.run(file: crasher)
            #expect(error?.contains("is corrupt: the HDF5 library faulted (SIGFPE) opening dataset") == true,
                    "\(error ?? "no error")")
        }
        for seed in Self.files("corpus", .hdf5) {
            let error = try FuzzTarget.hdf5.run(file: seed)
            #expect(error == nil, "\(seed) after a fault: \(error ?? "")")
        }
    }
}
