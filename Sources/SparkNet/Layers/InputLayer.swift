import CaffeProto

/// Caffe's Input layer (placeholder until implemented).
public final class InputLayer: Layer {}
