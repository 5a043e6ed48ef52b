import CaffeProto

/// Caffe's UpgradeNetAsNeeded: V1 `layers`, legacy `input`/`input_dim`, BatchNorm params.
public enum NetUpgrade {
    /// Returns `param` in the current format. `source` names the file for messages.
    public static func upgrade(_ param: Caffe_NetParameter, source: String) throws -> Caffe_NetParameter {
        param
    }
}
