import Foundation
import Testing
import CaffeProto
import SparkNet
import SparkNetTestSupport

/// A fresh temporary directory for one test.
func makeTempDir(_ tag: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("sparknet-\(tag)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func files(in dir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
}

/// A net fed by HDF5Data (in-memory sources through `sourceProvider`) with dropout, so a resume
/// must restore data positions and the generator, not only weights and history.
let resumeNetText = """
name: "resume"
layer { name: "data" type: "HDF5Data" top: "data" top: "label" include { phase: TRAIN }
        hdf5_data_param { source: "train.txt" batch_size: 4 } }
layer { name: "data" type: "HDF5Data" top: "data" top: "label" include { phase: TEST }
        hdf5_data_param { source: "test.txt" batch_size: 3 } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "h"
        inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.4 } bias_filler { type: "constant" value: 0.05 } } }
layer { name: "relu" type: "ReLU" bottom: "h" top: "h" }
layer { name: "drop" type: "Dropout" bottom: "h" top: "h" dropout_param { dropout_ratio: 0.3 } }
layer { name: "ip2" type: "InnerProduct" bottom: "h" top: "y"
        inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "y" bottom: "label" top: "loss" }
"""

/// In-memory data: 10 training samples, 7 test samples (sizes that do not divide the batches).
func resumeContext() -> NetContext {
    NetContext(seed: 99) { lp, phase in
        let n = phase == .train ? 10 : 7
        let off = phase == .train ? 0.0 : 0.5
        let data = (0..<(n * 3)).map { Float(sin(Double($0) * 0.7 + off)) }
        let label = (0..<(n * 2)).map { Float(cos(Double($0) * 0.3 + off)) }
        return try ArraySource([("data", [3], data), ("label", [2], label)])
    }
}

func resumeSolver(type: String, prefix: String) throws -> Solver {
    let extra = type == "Adam" ? "momentum: 0.9 momentum2: 0.99" : "momentum: 0.9"
    let text = """
    net_param { \(resumeNetText) }
    test_iter: 2 test_interval: 2
    type: "\(type)" \(extra) base_lr: 0.05 weight_decay: 0.001
    lr_policy: "multistep" gamma: 0.5 stepvalue: 2 stepvalue: 5
    max_iter: 6 display: 1 average_loss: 3 random_seed: 7
    snapshot: 3 snapshot_prefix: "\(prefix)" snapshot_after_train: false
    """
    return try Solver(param: try Caffe_SolverParameter(textFormatString: text), context: resumeContext())
}

func sourcePositions(_ s: Solver) -> [Int] {
    ([s.net] + s.testNets).flatMap { $0.layers.compactMap { ($0 as? DataLayer)?.source?.position } }
}

@Suite struct SnapshotTests {
    /// N iterations straight equal N/2, snapshot, a new Solver, restore, N/2 more: bit for bit.
    @Test(arguments: ["SGD", "Adam"])
    func resumeIsBitExact(type: String) throws {
        let dirA = try makeTempDir("resumeA"), dirB = try makeTempDir("resumeB")
        defer { try? FileManager.default.removeItem(atPath: dirA); try? FileManager.default.removeItem(atPath: dirB) }

        let straight = try resumeSolver(type: type, prefix: "\(dirA)/r")
        var straightLog: [String] = []
        straight.log = { straightLog.append($0) }
        try straight.step(6)

        let first = try resumeSolver(type: type, prefix: "\(dirB)/r")
        try first.step(3)
        #expect(files(in: dirB) == ["r_iter_3.caffemodel", "r_iter_3.solverstate", "r_iter_3.solverstate.sparknet"])
        let weightsAt3 = Array(first.net.weights)

        let resumed = try resumeSolver(type: type, prefix: "\(dirB)/r")
        var resumedLog: [String] = []
        resumed.log = { resumedLog.append($0) }
        try resumed.restore(from: "\(dirB)/r_iter_3.solverstate")
        #expect(resumed.iter == 3)
        #expect(Array(resumed.net.weights) == weightsAt3)
        #expect(resumed.currentStep == first.currentStep)
        try resumed.step(3)

        #expect(Array(resumed.net.weights) == Array(straight.net.weights), "weights differ after resume")
        for k in straight.historyArenas.indices {
            #expect(Array(resumed.historyArenas[k]) == Array(straight.historyArenas[k]), "history \(k) differs")
        }
        #expect(resumed.iter == 6 && straight.iter == 6)
        #expect(resumed.currentStep == straight.currentStep)
        #expect(resumed.smoothedLoss.bitPattern == straight.smoothedLoss.bitPattern)
        #expect(resumed.net.context.rng.words == straight.net.context.rng.words)
        #expect(sourcePositions(resumed) == sourcePositions(straight))
        // The resumed run logs what the straight run logged from iteration 3 on (timings aside).
        func comparable(_ lines: [String]) -> [String] {
            lines.filter { !$0.contains("iter/s") && !$0.hasPrefix("Snapshotting") }
        }
        let fromThree = straightLog.drop { !$0.hasPrefix("Iteration 3 (") }
        #expect(!fromThree.isEmpty)
        #expect(comparable(resumedLog) == comparable(Array(fromThree)))
        // The test nets see the same data and weights.
        let a = try straight.test(), b = try resumed.test()
        #expect(a.map(\.value) == b.map(\.value))
    }

    /// Without the sidecar, restore is Caffe's: iter, current_step, history and weights.
    @Test func restoreWithoutSidecarIsCaffes() throws {
        let dir = try makeTempDir("nosidecar")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try resumeSolver(type: "Adam", prefix: "\(dir)/r")
        try first.step(3)
        try FileManager.default.removeItem(atPath: "\(dir)/r_iter_3.solverstate.sparknet")
        let again = try resumeSolver(type: "Adam", prefix: "\(dir)/r")
        try again.restore(from: "\(dir)/r_iter_3.solverstate")
        #expect(again.iter == 3)
        #expect(Array(again.net.weights) == Array(first.net.weights))
        #expect(Array(again.historyArenas[0]) == Array(first.historyArenas[0]))
        #expect(Array(again.historyArenas[1]) == Array(first.historyArenas[1]))
        #expect(sourcePositions(again).allSatisfy { $0 == 0 })
    }

    /// learned_net is resolved beside the state file when the recorded path is gone (moved run).
    @Test func restoreFindsModelBesideMovedState() throws {
        let dir = try makeTempDir("moved"), moved = try makeTempDir("moved2")
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: moved) }
        let first = try resumeSolver(type: "SGD", prefix: "\(dir)/r")
        try first.step(3)
        for f in files(in: dir) { try FileManager.default.moveItem(atPath: "\(dir)/\(f)", toPath: "\(moved)/\(f)") }
        let again = try resumeSolver(type: "SGD", prefix: "\(moved)/r")
        try again.restore(from: "\(moved)/r_iter_3.solverstate")
        #expect(Array(again.net.weights) == Array(first.net.weights))
        // A state for another solver type has the wrong number of history blobs.
        let adam = try resumeSolver(type: "Adam", prefix: "\(moved)/r")
        #expect {
            try adam.restore(from: "\(moved)/r_iter_3.solverstate")
        } throws: { e in
            "\(e)".contains("r_iter_3.solverstate") && "\(e)".contains("history")
        }
    }

    /// A written .caffemodel re-read equals the net: names, shapes, values.
    @Test func caffemodelRoundTrip() throws {
        let dir = try makeTempDir("model")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let solver = try tinySolver("")
        let net = solver.net
        let path = "\(dir)/tiny.caffemodel"
        try CaffeModel.write(net, to: path)
        let model = try CaffeModel.read(path)
        #expect(model.name == "tiny")
        #expect(model.layer.map(\.name) == net.layerNames)
        #expect(model.layer.map(\.type) == net.layers.map(\.type))
        for (lp, layer) in zip(model.layer, net.layers) {
            #expect(lp.blobs.count == layer.blobs.count)
            for (b, blob) in zip(lp.blobs, layer.blobs) {
                #expect(b.shape.dim.map { Int($0) } == blob.shape)
                #expect(b.data == blob.dataArray)
                #expect(b.diff.isEmpty)
                #expect(!b.hasNum && !b.hasChannels && !b.hasHeight && !b.hasWidth)
            }
        }
        // The full layer definition travels with the weights.
        #expect(model.layer[1].innerProductParam.numOutput == 2)
        #expect(model.layer[1].param.map(\.lrMult) == [2, 0.5])
        #expect(model.layer[1].phase == .train)

        // Loading into a freshly initialized net reproduces the arena exactly.
        let other = try tinySolver("random_seed: 123")
        #expect(Array(other.net.weights) != Array(net.weights))
        try other.net.copyTrainedLayers(fromFile: path)
        #expect(Array(other.net.weights) == Array(net.weights))

        // snapshot_diff writes diffs too.
        for j in 0..<net.parameterCount { net.gradients[j] = Float(j) * 0.25 }
        try CaffeModel.write(net, to: path, writeDiff: true)
        let withDiff = try CaffeModel.read(path)
        #expect(withDiff.layer[1].blobs[0].diff == [0, 0.25, 0.5, 0.75, 1, 1.25])
        #expect(files(in: dir) == ["tiny.caffemodel"])
    }

    @Test func truncatedAndRandomFilesAreNamedErrors() throws {
        let dir = try makeTempDir("corrupt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let net = try tinySolver("").net
        let good = "\(dir)/good.caffemodel"
        try CaffeModel.write(net, to: good)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))

        let truncated = "\(dir)/truncated.caffemodel"
        try bytes.prefix(bytes.count * 2 / 3).write(to: URL(fileURLWithPath: truncated))
        var rng = RandomGenerator(seed: 4242)
        let random = "\(dir)/random.caffemodel"
        try Data((0..<2000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }).write(to: URL(fileURLWithPath: random))
        let empty = "\(dir)/empty.caffemodel"
        try Data().write(to: URL(fileURLWithPath: empty))

        for path in [truncated, random, empty, "\(dir)/missing.caffemodel"] {
            do {
                _ = try CaffeModel.read(path)
                Issue.record("\(path) was accepted")
            } catch let e as SparkNetError {
                #expect(e.message.hasPrefix(path), "\(e.message)")
                #expect(e.message.contains("caffemodel"), "\(e.message)")
            }
        }
        // And through the net's loader.
        #expect(throws: SparkNetError.self) { try net.copyTrainedLayers(fromFile: truncated) }
    }

    @Test func mismatchedShapesNameLayerAndShapes() throws {
        let dir = try makeTempDir("shapes")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/tiny.caffemodel"
        try CaffeModel.write(try tinySolver("").net, to: path)
        let wider = try Fixtures.net(tinyNetText.replacingOccurrences(of: "num_output: 2", with: "num_output: 3")
            .replacingOccurrences(of: "shape { dim: 2 dim: 2 }", with: "shape { dim: 2 dim: 3 }"))
        do {
            try wider.copyTrainedLayers(fromFile: path)
            Issue.record("a shape mismatch was accepted")
        } catch let e as SparkNetError {
            #expect(e.message.contains(path))
            #expect(e.message.contains("'ip'"))
            #expect(e.message.contains("[2, 3]") && e.message.contains("[3, 3]"), "\(e.message)")
        }
        // Unknown source layers are skipped (Caffe's "Ignoring source layer").
        var model = try CaffeModel.read(path)
        var extra = Caffe_LayerParameter()
        extra.name = "not_in_net"
        extra.blobs = [BlobCodec.proto(Blob(shape: [4]))]
        model.layer.append(extra)
        var lines: [String] = []
        let net = try tinySolver("random_seed: 9").net
        try net.copyTrainedLayers(from: model, source: "m", log: { lines.append($0) })
        #expect(lines == ["Ignoring source layer in", "Ignoring source layer not_in_net"] ||
                lines.contains("Ignoring source layer not_in_net"))
        // A blob-count mismatch names the layer.
        model.layer[1].blobs.removeLast()
        #expect { try net.copyTrainedLayers(from: model, source: "m") } throws: { "\($0)".contains("'ip'") }
    }

    /// A NaN loss stops training before anything is written for the bad weights.
    @Test func nanLossStopsAndKeepsLastSnapshot() throws {
        let dir = try makeTempDir("nan")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let solver = try tinySolver("type: \"SGD\" momentum: 0.9 snapshot: 2 snapshot_prefix: \"\(dir)/n\"")
        solver.net.blob(named: "x")!.setData([1, 2, 3, 4, 5, 6])
        try solver.step(2)
        let good = Array(solver.net.weights)
        #expect(files(in: dir) == ["n_iter_2.caffemodel", "n_iter_2.solverstate", "n_iter_2.solverstate.sparknet"])
        let modelBytes = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/n_iter_2.caffemodel"))

        solver.net.blob(named: "x")!.setData([1, .nan, 3, 4, 5, 6])
        do {
            try solver.step(4)
            Issue.record("a NaN loss did not stop training")
        } catch let e as SparkNetError {
            #expect(e.message == "Iteration 2: loss is NaN; stopping. Last good snapshot: \(dir)/n_iter_2.solverstate")
        }
        #expect(solver.iter == 2)
        #expect(Array(solver.net.weights) == good)
        #expect(files(in: dir) == ["n_iter_2.caffemodel", "n_iter_2.solverstate", "n_iter_2.solverstate.sparknet"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/n_iter_2.caffemodel")) == modelBytes)

        // Without any snapshot the message says so; Inf is caught too.
        let fresh = try tinySolver("type: \"SGD\"")
        fresh.net.blob(named: "x")!.setData([1, .infinity, 3, 4, 5, 6])
        fresh.net.blob(named: "t")!.setData([1, 1, 1, 1])
        #expect { try fresh.step(1) } throws: {
            let m = "\($0)"
            return m.hasPrefix("Iteration 0: loss is") && m.hasSuffix("; stopping. Last good snapshot: none")
        }
    }

    @Test func atomicWritesLeaveNoTemporaryFiles() throws {
        let dir = try makeTempDir("atomic")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/f.bin"
        try AtomicFile.write(Data([1, 2, 3]), to: path)
        try AtomicFile.write(Data([4, 5]), to: path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data([4, 5]))
        #expect(files(in: dir) == ["f.bin"])
        // A missing directory is an error naming the path.
        let bad = "\(dir)/no/such/dir/f.bin"
        #expect { try AtomicFile.write(Data([1]), to: bad) } throws: { "\($0)".hasPrefix(bad) }
        // A directory in the way of the rename: the error names the target, the temp file is gone.
        try FileManager.default.createDirectory(atPath: "\(dir)/d", withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: "\(dir)/d/x", withIntermediateDirectories: false)
        try "keep".write(toFile: "\(dir)/d/x/keep", atomically: false, encoding: .utf8)
        #expect { try AtomicFile.write(Data([1]), to: "\(dir)/d/x") } throws: { "\($0)".hasPrefix("\(dir)/d/x") }
        #expect(files(in: "\(dir)/d") == ["x"])
        // Solver snapshots through it leave only the snapshot files.
        let solver = try tinySolver("snapshot: 1 snapshot_prefix: \"\(dir)/s\"")
        try solver.step(2)
        #expect(files(in: dir).filter { $0.hasPrefix("s_") } ==
                ["s_iter_1.caffemodel", "s_iter_1.solverstate", "s_iter_1.solverstate.sparknet",
                 "s_iter_2.caffemodel", "s_iter_2.solverstate", "s_iter_2.solverstate.sparknet"])
        #expect(!files(in: dir).contains { $0.contains(".tmp") || $0.contains("tempfile") })
    }

    /// C buffers (AtomicFile's template, libjpeg's messages, host names) end at their first NUL,
    /// or with the buffer when it has none; bytes that are not UTF-8 become U+FFFD.
    @Test func cBufferText() {
        func chars(_ bytes: [UInt8]) -> [CChar] { bytes.map { CChar(bitPattern: $0) } }
        #expect(String(cBuffer: chars(Array("node1".utf8) + [0, 65, 66])) == "node1")
        #expect(String(cBuffer: chars(Array("full".utf8))) == "full")
        #expect(String(cBuffer: [CChar]()) == "" && String(cBuffer: [CChar(0)]) == "")
        #expect(String(cBuffer: chars([0xC3, 0xA9, 0xFF, 0x41, 0])) == "é\u{FFFD}A")
    }

    /// writesFiles = false (non-root ranks) writes nothing but still runs the snapshot hook.
    @Test func snapshotHookAndWritesFiles() throws {
        let dir = try makeTempDir("hook")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let solver = try tinySolver("snapshot: 2 snapshot_prefix: \"\(dir)/h\"")
        solver.writesFiles = false
        var bases: [String] = []
        solver.snapshotHook = { s, base in bases.append(base); #expect(s.iter == Int(base.split(separator: "_").last!)!) }
        var afterUpdate: [Int] = []
        solver.afterUpdateHook = { afterUpdate.append($0.iter) }
        try solver.step(4)
        #expect(bases == ["\(dir)/h_iter_2", "\(dir)/h_iter_4"])
        #expect(afterUpdate == [1, 2, 3, 4])
        #expect(files(in: dir).isEmpty)
    }

    /// Caffe's log lines through solve(): display, lr, test, snapshot, final loss, done.
    @Test func solveLogsCaffeLines() throws {
        let dir = try makeTempDir("log")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let solver = try tinySolver("""
            max_iter: 4 display: 2 test_iter: 2 test_interval: 2 snapshot_after_train: true
            snapshot_prefix: "\(dir)/l"
            """)
        solver.net.blob(named: "x")!.setData([1, 2, 3, 4, 5, 6])
        #expect(solver.testNets.count == 1)
        var lines: [String] = []
        solver.log = { lines.append($0) }
        try solver.solve()
        func matches(_ pattern: String) -> Int {
            let re = try! NSRegularExpression(pattern: "^" + pattern + "$")
            return lines.filter { re.firstMatch(in: $0, range: NSRange($0.startIndex..., in: $0)) != nil }.count
        }
        let num = "-?[0-9.]+(e[-+][0-9]+)?"
        #expect(lines.first == "Solving tiny")
        #expect(lines.dropFirst().first == "Learning Rate Policy: fixed")
        #expect(matches("Iteration (0|2) \\(\(num) iter/s, \(num)s/2 iters\\), loss = \(num)") == 2)
        #expect(matches("    Train net output #0: loss = \(num) \\(\\* 1 = \(num) loss\\)") == 2)
        #expect(lines.contains("Iteration 0, lr = 0.1") && lines.contains("Iteration 2, lr = 0.1"))
        #expect(lines.filter { $0.hasPrefix("Iteration") && $0.hasSuffix(", Testing net (#0)") } ==
                ["Iteration 0, Testing net (#0)", "Iteration 2, Testing net (#0)", "Iteration 4, Testing net (#0)"])
        #expect(matches("    Test net output #0: loss = \(num) \\(\\* 1 = \(num) loss\\)") == 3)
        #expect(lines.contains("Snapshotting to binary proto file \(dir)/l_iter_4.caffemodel"))
        #expect(lines.contains("Snapshotting solver state to binary proto file \(dir)/l_iter_4.solverstate"))
        #expect(matches("Iteration 4, loss = \(num)") == 1)
        #expect(lines.last == "Optimization Done.")
        // Caffe's order: snapshot, final loss, final test, done.
        let snap = lines.firstIndex { $0.hasPrefix("Snapshotting to") }!
        let final = lines.firstIndex { $0.hasPrefix("Iteration 4, loss") }!
        let test = lines.firstIndex { $0 == "Iteration 4, Testing net (#0)" }!
        #expect(snap < final && final < test)
    }

    /// Test means: every output element over test_iter batches; with a reducer, sums across ranks.
    @Test func testMeansAndReducer() throws {
        let solver = try resumeSolver(type: "SGD", prefix: "/nonexistent/p")
        let testNet = solver.testNets[0]
        // Reference: run the same batches by hand on a copy of the source positions.
        testNet.copyParams(from: solver.net)
        let source = (testNet.layers.compactMap { $0 as? DataLayer }.first?.source)!
        let start = source.position
        var sum: Float = 0
        for _ in 0..<2 { sum += try testNet.forward() }
        source.position = start
        let plain = try solver.test()
        #expect(plain.count == 1 && plain[0].name == "loss")
        #expect(plain[0].value == sum / 2)

        // Two identical ranks give the same mean; a second rank with other sums is weighted by batches.
        source.position = start
        var received: [Double] = []
        solver.testReducer = { mine in received = mine; return mine.map { $0 * 2 } }
        let doubled = try solver.test()
        #expect(received.count == 3 && received[2] == 2)
        #expect(abs(doubled[0].value - sum / 2) < 1e-6)
        source.position = start
        solver.testReducer = { mine in [mine[0] + 10, mine[1], mine[2] + 3] }
        let weighted = try solver.test()
        #expect(abs(Double(weighted[0].value) - (Double(sum) + 10) / 5) < 1e-5)
    }

    /// An independent decoder (Python protobuf over proto/caffe.proto) reads what we write.
    @Test func pythonProtobufDecodesOurCaffemodel() throws {
        let dir = try makeTempDir("python")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let solver = try resumeSolver(type: "SGD", prefix: "\(dir)/p")
        try solver.step(1)
        let path = "\(dir)/p.caffemodel"
        try CaffeModel.write(solver.net, to: path)

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/decode_caffemodel.py").path
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
            Issue.record("/usr/bin/python3 is missing: run `make test` (installs python3-protobuf and protobuf-compiler)")
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [script, path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationStatus == 3 {
            Issue.record("the independent decoder needs protoc and python3-protobuf: run `make test` (installs python3-protobuf and protobuf-compiler). \(errText)")
            return
        }
        try #require(p.terminationStatus == 0, "decode_caffemodel.py failed: \(errText)")

        struct Decoded: Decodable {
            struct BlobInfo: Decodable { let shape: [Int]; let count: Int; let sum: Double }
            struct LayerInfo: Decodable { let name: String; let type: String; let blobs: [BlobInfo] }
            let name: String
            let layers: [LayerInfo]
        }
        let decoded = try JSONDecoder().decode(Decoded.self, from: outData)
        let net = solver.net
        #expect(decoded.name == "resume")
        #expect(decoded.layers.map(\.name) == net.layerNames)
        #expect(decoded.layers.map(\.type) == net.layers.map(\.type))
        for (d, layer) in zip(decoded.layers, net.layers) {
            #expect(d.blobs.map(\.shape) == layer.blobs.map(\.shape), "layer \(d.name)")
            for (b, blob) in zip(d.blobs, layer.blobs) {
                #expect(b.count == blob.count)
                let sum = blob.dataArray.reduce(0.0) { $0 + Double($1) }
                #expect(abs(b.sum - sum) <= 1e-5 * max(1, abs(sum)), "layer \(d.name): \(b.sum) vs \(sum)")
            }
        }
        #expect(decoded.layers.first { $0.name == "ip1" }?.blobs.map(\.shape) == [[5, 3], [5]])
    }

    /// Net paths in a solver file: the current directory first (Caffe), then beside the solver;
    /// snapshot_prefix defaults to the solver path without extension.
    @Test func solverFilePathsAndPrefix() throws {
        let dir = try makeTempDir("paths")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try tinyNetText.write(toFile: "\(dir)/net-\(UUID().uuidString).prototxt", atomically: true, encoding: .utf8)
        let netFile = files(in: dir)[0]
        try "net: \"\(netFile)\" base_lr: 0.1 lr_policy: \"fixed\" max_iter: 1 solver_type: SGD"
            .write(toFile: "\(dir)/solver.prototxt", atomically: true, encoding: .utf8)
        let solver = try Solver(prototxt: "\(dir)/solver.prototxt", context: NetContext())
        #expect(solver.net.name == "tiny")
        #expect(solver.param.snapshotPrefix == "\(dir)/solver")
        #expect(solver.param.type == "SGD" && !solver.param.hasSolverType)
        try "net: \"missing.prototxt\" base_lr: 0.1 lr_policy: \"fixed\""
            .write(toFile: "\(dir)/bad.prototxt", atomically: true, encoding: .utf8)
        #expect { _ = try Solver(prototxt: "\(dir)/bad.prototxt", context: NetContext()) } throws: {
            "\($0)".contains("missing.prototxt")
        }
        // A directory prefix gets the solver's stem.
        try "net: \"\(netFile)\" base_lr: 0.1 lr_policy: \"fixed\" snapshot_prefix: \"\(dir)\""
            .write(toFile: "\(dir)/s2.prototxt", atomically: true, encoding: .utf8)
        #expect(try Solver(prototxt: "\(dir)/s2.prototxt", context: NetContext()).param.snapshotPrefix == "\(dir)/s2")
    }
}

/// V1 models (NetParameter.layers, field 2) load through NetUpgrade.
@Suite struct SnapshotV1Tests {
    @Test func v1ModelLoads() throws {
        let dir = try makeTempDir("v1")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let net = try tinySolver("").net
        var v1 = Caffe_NetParameter()
        v1.name = "old"
        var l = Caffe_V1LayerParameter()
        l.name = "ip"
        l.type = .innerProduct
        l.bottom = ["x"]; l.top = ["y"]
        l.blobs = net.layer(named: "ip")!.blobs.map { b in
            // Old files use num/channels/height/width.
            var p = Caffe_BlobProto()
            p.num = 1; p.channels = 1
            p.height = Int32(b.shape.count == 2 ? b.shape[0] : 1)
            p.width = Int32(b.shape.last!)
            p.data = b.dataArray.map { $0 + 1 }
            return p
        }
        v1.layers = [l]
        let path = "\(dir)/v1.caffemodel"
        try Data(try v1.serializedBytes() as [UInt8]).write(to: URL(fileURLWithPath: path))
        let model = try CaffeModel.read(path)
        #expect(model.layer.map(\.name) == ["ip"])
        let target = try tinySolver("random_seed: 77").net
        try target.copyTrainedLayers(from: model, source: path)
        #expect(Array(target.weights) == Array(net.weights).map { $0 + 1 })
    }
}
