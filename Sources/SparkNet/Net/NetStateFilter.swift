import CaffeProto

/// Caffe's FilterNet: keeps the layers whose include/exclude rules match a NetState.
enum NetStateFilter {
    static func meets(_ state: Caffe_NetState, _ rule: Caffe_NetStateRule) -> Bool {
        if rule.hasPhase && rule.phase != state.phase { return false }
        if rule.hasMinLevel && state.level < rule.minLevel { return false }
        if rule.hasMaxLevel && state.level > rule.maxLevel { return false }
        for s in rule.stage where !state.stage.contains(s) { return false }
        for s in rule.notStage where state.stage.contains(s) { return false }
        return true
    }

    static func filter(_ param: Caffe_NetParameter, state: Caffe_NetState) -> Caffe_NetParameter {
        var out = param
        out.layer = param.layer.filter { lp in
            var included = lp.include.isEmpty
            for rule in lp.exclude where meets(state, rule) { included = false }
            for rule in lp.include where meets(state, rule) { included = true }
            return included
        }
        return out
    }
}
