import Foundation
import CaffeProto
import SparkNet

extension ExampleNets {
    /// Define, train, export: a small net written in Swift learns which side of a line 64
    /// points lie on, from memory, and its weights and definition are written as a
    /// `.caffemodel` and a prototxt Caffe reads. Returns the test outputs before and after.
    /// docs/library-example.md shows the same code (a test keeps the two equal).
    public static func trainAndExport(directory dir: String, steps: Int = 100) throws
        -> (before: [String: Float], after: [String: Float]) {
        // --- example begins
        let net = NetSpec("points") {
            HDF5Data("data", tops: ["x", "label"], batchSize: 16)   // fed from memory below
            InnerProduct("ip1", bottom: "x", outputs: 8, weightFiller: .gaussian(std: 0.5), biasFiller: .constant())
            ReLU("relu1")                                          // in place on ip1
            InnerProduct("score", outputs: 2, weightFiller: .gaussian(std: 0.5))
            SoftmaxWithLoss("loss", bottoms: ["score", "label"])
            Accuracy("accuracy", bottoms: ["score", "label"]).include(.test)
        }
        let solver = SolverSpec(baseLR: 0.1, policy: .fixed).method(.sgd).momentum(0.9)
        // 64 points in the plane, labelled by the side of a line they lie on.
        let points: [[Float]] = (0..<64).map { i in [Float(i % 8) / 4 - 1, Float(i / 8) / 4 - 0.9] }
        let data = try ArraySource([("x", [2], points.flatMap { $0 }),
                                    ("label", [], points.map { $0[0] > $0[1] ? Float(1) : 0 })])
        let model = try Model(net: net, solver: solver, trainingData: data, validationData: data)
        let before = try model.test(steps: 4)      // ["loss": 0.69..., "accuracy": 0.5...]
        try model.train(steps: steps)
        let after = try model.test(steps: 4)       // loss lower, accuracy near 1
        try CaffeModel.write(model.net, to: "\(dir)/points.caffemodel")
        try AtomicFile.write(Data(net.prototxt.utf8), to: "\(dir)/points.prototxt")
        // --- example ends
        return (before, after)
    }
}
