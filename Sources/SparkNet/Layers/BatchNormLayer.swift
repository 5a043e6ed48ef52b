import CaffeProto

/// Caffe's BatchNorm layer (placeholder until implemented).
public final class BatchNormLayer: Layer {}
