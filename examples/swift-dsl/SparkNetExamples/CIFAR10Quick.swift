import CaffeProto
import SparkNet

extension ExampleNets {
    /// Caffe's CIFAR-10 quick, TRAIN phase with an Input layer: the twin of
    /// bench/nets/cifar10_quick_train.prototxt.
    public static var cifar10Quick: NetSpec {
        NetSpec("CIFAR10_quick") {
            Input("data", shapes: ["data": [100, 3, 32, 32], "label": [100]])
            convolution("conv1", bottom: "data", outputs: 32, std: 0.0001)
            Pooling("pool1", .max, kernel: 3, stride: 2)
            ReLU("relu1")
            convolution("conv2", outputs: 32, std: 0.01)
            ReLU("relu2")
            Pooling("pool2", .ave, kernel: 3, stride: 2)
            convolution("conv3", outputs: 64, std: 0.01)
            ReLU("relu3")
            Pooling("pool3", .ave, kernel: 3, stride: 2)
            innerProduct("ip1", outputs: 64)
            innerProduct("ip2", outputs: 10)
            SoftmaxWithLoss("loss", bottoms: ["ip2", "label"])
        }
    }

    /// Every convolution of the net: 5×5, padded to keep the size, Gaussian weights, bias at 2× rate.
    private static func convolution(_ name: String, bottom: BlobRef? = nil, outputs: Int, std: Float) -> Convolution {
        Convolution(name, bottom: bottom, outputs: outputs, kernel: 5, stride: 1, pad: 2,
                    weightFiller: .gaussian(std: std), biasFiller: .constant())
            .param(lr: 1).param(lr: 2)
    }

    private static func innerProduct(_ name: String, outputs: Int) -> InnerProduct {
        InnerProduct(name, outputs: outputs, weightFiller: .gaussian(std: 0.1), biasFiller: .constant())
            .param(lr: 1).param(lr: 2)
    }
}
