import CaffeProto

/// Caffe's EuclideanLoss layer (placeholder until implemented).
public final class EuclideanLossLayer: Layer {}
