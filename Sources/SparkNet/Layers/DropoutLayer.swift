import CaffeProto

/// Caffe's Dropout layer (placeholder until implemented).
public final class DropoutLayer: Layer {}
