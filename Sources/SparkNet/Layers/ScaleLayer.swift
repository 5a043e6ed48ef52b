import CaffeProto

/// Caffe's Scale layer (placeholder until implemented).
public final class ScaleLayer: Layer {}
