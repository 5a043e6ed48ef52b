import CaffeProto
import SparkNet

extension ExampleNets {
    /// Caffe's LeNet on Fashion-MNIST: the twin of examples/fashion-mnist/lenet_train_test.prototxt.
    public static var lenet: NetSpec {
        NetSpec("LeNet") {
            HDF5Data("fashion", tops: ["data", "label"], source: "data/fashion-mnist/train.txt", batchSize: 64)
                .include(.train)
            HDF5Data("fashion", tops: ["data", "label"], source: "data/fashion-mnist/test.txt", batchSize: 100)
                .include(.test)
            Convolution("conv1", bottom: "data", outputs: 20, kernel: 5, stride: 1,
                        weightFiller: .xavier(), biasFiller: .constant())
                .param(lr: 1).param(lr: 2)
            Pooling("pool1", .max, kernel: 2, stride: 2)
            Convolution("conv2", outputs: 50, kernel: 5, stride: 1, weightFiller: .xavier(), biasFiller: .constant())
                .param(lr: 1).param(lr: 2)
            Pooling("pool2", .max, kernel: 2, stride: 2)
            InnerProduct("ip1", outputs: 500, weightFiller: .xavier(), biasFiller: .constant())
                .param(lr: 1).param(lr: 2)
            ReLU("relu1")
            InnerProduct("ip2", outputs: 10, weightFiller: .xavier(), biasFiller: .constant())
                .param(lr: 1).param(lr: 2)
            Accuracy("accuracy", bottoms: ["ip2", "label"])
                .include(.test)
            SoftmaxWithLoss("loss", bottoms: ["ip2", "label"])
        }
    }

    /// The twin of examples/fashion-mnist/lenet_solver.prototxt (which names the net by path).
    public static var lenetSolver: SolverSpec {
        SolverSpec(baseLR: 0.01, policy: .inv(gamma: 0.0001, power: 0.75))
            .net(file: "examples/fashion-mnist/lenet_train_test.prototxt")
            .test(iterations: 100, every: 500)
            .momentum(0.9)
            .weightDecay(0.0005)
            .display(100)
            .maxIter(2000)
            .snapshot(every: 1000, prefix: "snapshots/fashion-mnist/lenet")
            .randomSeed(1701)
            .mode(.cpu)
    }
}
