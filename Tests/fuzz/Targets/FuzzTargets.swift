import CaffeProto
import Foundation
import SparkNet
import SparkNetMPI

/// The readers a user's file reaches, each as a function of the file's bytes. Any input must
/// end in a result or a `SparkNetError` (a message naming the file); anything else, a crash, a
/// trap or another error type, is a finding. `sparknet-fuzz` runs them under libFuzzer, and
/// `FuzzRegressionTests` runs the corpus and every crasher found.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A net prototxt: text format, then the V0/V1 upgrade.
    case netPrototxt = "net-prototxt"
    /// A solver prototxt: text format, then the solver upgrade.
    case solverPrototxt = "solver-prototxt"
    /// A .caffemodel: decoded, upgraded, checked, then copied into a small net.
    case caffemodel
    /// A .solverstate: restored into a small solver, which then takes one step.
    case solverstate
    /// An HDF5Data file: read as a batch source (two batches), and as `inspect` reads it.
    case hdf5
    /// A JPEG or PNG file (libjpeg-turbo, libpng): decoded in colour and gray, then resized.
    case image

    /// Runs the target on `bytes`. Returns the error message for bad input, nil for good.
    /// Traps (fatalError) on an error that is not a `SparkNetError`.
    @discardableResult
    public func run(_ bytes: UnsafeRawBufferPointer) -> String? {
        do {
            try body(Data(bytes))
            return nil
        } catch let e as SparkNetError {
            return e.message
        } catch {
            fatalError("\(rawValue): an error without a clear message: \(error)")
        }
    }

    /// Runs the target on the file at `path`.
    @discardableResult
    public func run(file path: String) throws -> String? {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { run($0) }
    }

    private func body(_ data: Data) throws {
        switch self {
        case .netPrototxt:
            guard let text = String(data: data, encoding: .utf8) else { throw SparkNetError("fuzz.prototxt: not UTF-8") }
            let param = try Prototxt.parseNet(text, path: "fuzz.prototxt")
            _ = try NetUpgrade.upgrade(param, source: "fuzz.prototxt")
        case .solverPrototxt:
            guard let text = String(data: data, encoding: .utf8) else { throw SparkNetError("fuzz.prototxt: not UTF-8") }
            let param = try Prototxt.parseSolver(text, path: "fuzz.prototxt")
            _ = try SolverUpgrade.upgrade(param, solverPath: nil)
        case .caffemodel:
            let model = try CaffeModel.decode(data, source: "fuzz.caffemodel")
            try Fixture.shared.solver.net.copyTrainedLayers(from: model, source: "fuzz.caffemodel")
        case .solverstate:
            let path = Fixture.shared.directory + "/fuzz.solverstate"
            try data.write(to: URL(fileURLWithPath: path))
            let solver = Fixture.shared.solver
            try solver.restore(from: path)
            try solver.step(1)
        case .hdf5:
            let path = Fixture.shared.directory + "/fuzz.h5"
            try data.write(to: URL(fileURLWithPath: path))
            let source = try HDF5BatchSource(listPath: Fixture.shared.directory + "/fuzz.txt", tops: ["data", "label"],
                                             shuffle: true, seed: 1)
            let tops = source.sampleShapes.map { UnsafeMutablePointer<Float>.allocate(capacity: 3 * max(1, $0.reduce(1, *))) }
            defer { tops.forEach { $0.deallocate() } }
            for _ in 0..<2 { try source.nextBatch(into: tops, batchSize: 3) }
            _ = try HDF5Contents.datasets(in: path)
        case .image:
            let bytes = [UInt8](data)
            let color = try ImageCodec.decode(bytes, gray: false, source: "fuzz.image")
            _ = try ImageCodec.decode(bytes, gray: true, source: "fuzz.image")
            _ = ImageCodec.resize(color, height: 3, width: 5)
        }
    }

    /// The small solver the model and state targets load into, and a scratch directory holding
    /// the files they name (the state's learned_net, the HDF5 list).
    public final class Fixture: @unchecked Sendable {
        public static let shared = Fixture()
        public let directory: String
        public let solver: Solver

        /// The net of `solver`: Input (data 2×1×4×4, label 2), Convolution, InnerProduct,
        /// SoftmaxWithLoss; multistep, so a restored current_step indexes stepvalue.
        public static let solverText = """
            base_lr: 0.01 lr_policy: "multistep" gamma: 0.5 stepvalue: 2 stepvalue: 4 momentum: 0.9
            max_iter: 10 random_seed: 3 snapshot_prefix: "fuzz"
            net_param {
              name: "Fuzz"
              layer { name: "data" type: "Input" top: "data" top: "label"
                input_param { shape { dim: 2 dim: 1 dim: 4 dim: 4 } shape { dim: 2 } } }
              layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
                convolution_param { num_output: 2 kernel_size: 3 weight_filler { type: "xavier" } } }
              layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip"
                inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
              layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
            }
            """

        private init() {
            let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
            directory = "\(base)/sparknet-fuzz-\(getpid())"
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let param = try Prototxt.parseSolver(Self.solverText, path: "fuzz solver")
                solver = try Solver(param: param, context: NetContext(seed: 3))
                // The learned_net the seed states name, and the list naming the HDF5 input.
                try CaffeModel.write(solver.net, to: directory + "/fuzz.caffemodel")
                try (directory + "/fuzz.h5\n").write(toFile: directory + "/fuzz.txt", atomically: true, encoding: .utf8)
            } catch {
                fatalError("fuzz fixture: \(error)")
            }
            atexit { try? FileManager.default.removeItem(atPath: Fixture.shared.directory) }
        }
    }
}
