import CaffeProto

/// Caffe's SoftmaxWithLoss layer (placeholder until implemented).
public final class SoftmaxWithLossLayer: Layer {}
