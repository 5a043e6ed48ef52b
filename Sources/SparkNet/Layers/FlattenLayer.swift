import CaffeProto

/// Caffe's Flatten layer (placeholder until implemented).
public final class FlattenLayer: Layer {}
