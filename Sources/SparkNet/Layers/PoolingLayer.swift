import CaffeProto

/// Caffe's Pooling layer (placeholder until implemented).
public final class PoolingLayer: Layer {}
