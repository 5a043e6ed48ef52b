import CaffeProto

/// Caffe's Concat layer (placeholder until implemented).
public final class ConcatLayer: Layer {}
