import CaffeProto

/// Caffe's Accuracy layer (placeholder until implemented).
public final class AccuracyLayer: Layer {}
