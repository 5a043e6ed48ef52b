import Foundation
import Testing
import CaffeProto
import SparkNet
import SparkNetTestSupport

/// A tiny net for solver tests: x (2×3) → InnerProduct(2) → EuclideanLoss against t (2×2).
/// The weight has lr_mult 2 and decay_mult 0.5, the bias lr_mult 0.5 and decay_mult 0, so
/// per-param multipliers are exercised. Arena: 6 weights, then 2 biases.
let tinyNetText = """
name: "tiny"
layer { name: "in" type: "Input" top: "x" top: "t"
        input_param { shape { dim: 2 dim: 3 } shape { dim: 2 dim: 2 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y"
        param { lr_mult: 2 decay_mult: 0.5 } param { lr_mult: 0.5 decay_mult: 0 }
        inner_product_param { num_output: 2
          weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "y" bottom: "t" top: "loss" }
"""

/// A solver over the tiny net with `extra` solver fields (text format).
func tinySolver(_ extra: String, context: NetContext = NetContext()) throws -> Solver {
    // Defaults, unless `extra` sets the field (text format refuses a repeated singular field).
    let defaults = ["base_lr: 0.1", "lr_policy: \"fixed\"", "max_iter: 100", "display: 0",
                    "snapshot_after_train: false", "random_seed: 5"]
    let base = defaults.filter { !extra.contains(String($0.prefix { $0 != ":" }) + ":") }
    let text = "net_param { \(tinyNetText) }\n" + base.joined(separator: " ") + "\n" + extra
    return try Solver(param: try Caffe_SolverParameter(textFormatString: text), context: context)
}

/// The deterministic gradient the tests inject at iteration t for arena element j.
func seededGradient(_ t: Int, _ j: Int) -> Float {
    Float(sin(Double(j + 1) * 1.7 + Double(t) * 2.3)) * (j % 3 == 0 ? 3 : 0.5)
}

/// Caffe's update rules written out in double from the formulas in the Caffe sources, element
/// by element, as an independent reference for the solver's arena code.
struct ReferenceSolver {
    var type: String
    var baseLr = 0.1, momentum = 0.0, momentum2 = 0.999, delta = 1e-8, rmsDecay = 0.99
    var weightDecay = 0.0, l1 = false, clip = -1.0, iterSize = 1
    var lrMult: [Double], decayMult: [Double]
    var w: [Double], h1: [Double], h2: [Double]

    init(type: String, w: [Float], lrMult: [Float], decayMult: [Float]) {
        self.type = type
        self.w = w.map(Double.init)
        self.lrMult = lrMult.map(Double.init)
        self.decayMult = decayMult.map(Double.init)
        h1 = Array(repeating: 0, count: w.count)
        h2 = h1
    }

    mutating func step(gradient: [Float], iter: Int) {
        var g = gradient.map(Double.init)
        if clip >= 0 {
            let norm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > clip { g = g.map { $0 * clip / norm } }
        }
        for j in g.indices {
            g[j] /= Double(iterSize)
            let decay = weightDecay * decayMult[j]
            let sign: Double = w[j] > 0 ? 1 : (w[j] < 0 ? -1 : 0)
            g[j] += decay * (l1 ? sign : w[j])
            let lr = baseLr * lrMult[j]
            var u: Double
            switch type {
            case "SGD":
                h1[j] = lr * g[j] + momentum * h1[j]
                u = h1[j]
            case "Nesterov":
                let next = lr * g[j] + momentum * h1[j]
                u = (1 + momentum) * next - momentum * h1[j]
                h1[j] = next
            case "AdaGrad":
                h1[j] += g[j] * g[j]
                u = lr * g[j] / (h1[j].squareRoot() + delta)
            case "RMSProp":
                h1[j] = (1 - rmsDecay) * g[j] * g[j] + rmsDecay * h1[j]
                u = lr * g[j] / (h1[j].squareRoot() + delta)
            case "AdaDelta":
                h1[j] = (1 - momentum) * g[j] * g[j] + momentum * h1[j]
                let step = g[j] * ((h2[j] + delta) / (h1[j] + delta)).squareRoot()
                h2[j] = (1 - momentum) * step * step + momentum * h2[j]
                u = lr * step
            case "Adam":
                h1[j] = (1 - momentum) * g[j] + momentum * h1[j]
                h2[j] = (1 - momentum2) * g[j] * g[j] + momentum2 * h2[j]
                let t = Double(iter + 1)
                let correction = (1 - pow(momentum2, t)).squareRoot() / (1 - pow(momentum, t))
                u = lr * correction * h1[j] / (h2[j].squareRoot() + delta)
            default:
                fatalError("unknown rule \(type)")
            }
            w[j] -= u
        }
    }
}

/// Relative closeness for Float results against a double reference.
func close(_ a: Float, _ b: Double, rel: Double = 2e-5, abs absTol: Double = 1e-6) -> Bool {
    abs(Double(a) - b) <= max(absTol, rel * abs(b))
}

struct RuleCase: CustomStringConvertible, Sendable {
    var type: String
    var fields: String
    var momentum = 0.0, momentum2 = 0.999, delta = 1e-8, rmsDecay = 0.99
    var weightDecay = 0.0, l1 = false, clip = -1.0, iterSize = 1
    var description: String { "\(type) \(fields)" }
}

@Suite struct SolverUpdateTests {
    static let cases: [RuleCase] = [
        RuleCase(type: "SGD", fields: "momentum: 0.9 weight_decay: 0.01", momentum: 0.9, weightDecay: 0.01),
        RuleCase(type: "SGD", fields: "momentum: 0.8 weight_decay: 0.05 regularization_type: \"L1\"",
                 momentum: 0.8, weightDecay: 0.05, l1: true),
        RuleCase(type: "SGD", fields: "momentum: 0.9 weight_decay: 0.01 iter_size: 2",
                 momentum: 0.9, weightDecay: 0.01, iterSize: 2),
        RuleCase(type: "SGD", fields: "momentum: 0.9 clip_gradients: 1.5", momentum: 0.9, clip: 1.5),
        RuleCase(type: "Nesterov", fields: "momentum: 0.9 weight_decay: 0.02", momentum: 0.9, weightDecay: 0.02),
        RuleCase(type: "Nesterov", fields: "momentum: 0.7 weight_decay: 0.02 regularization_type: \"L1\" iter_size: 2 clip_gradients: 2",
                 momentum: 0.7, weightDecay: 0.02, l1: true, clip: 2, iterSize: 2),
        RuleCase(type: "AdaGrad", fields: "weight_decay: 0.01 delta: 1e-6", delta: 1e-6, weightDecay: 0.01),
        RuleCase(type: "AdaGrad", fields: "weight_decay: 0.01 regularization_type: \"L1\" iter_size: 2",
                 weightDecay: 0.01, l1: true, iterSize: 2),
        RuleCase(type: "RMSProp", fields: "rms_decay: 0.95 weight_decay: 0.01 delta: 1e-6",
                 delta: 1e-6, rmsDecay: 0.95, weightDecay: 0.01),
        RuleCase(type: "RMSProp", fields: "weight_decay: 0.03 clip_gradients: 1", weightDecay: 0.03, clip: 1),
        RuleCase(type: "AdaDelta", fields: "momentum: 0.95 delta: 1e-6 weight_decay: 0.01",
                 momentum: 0.95, delta: 1e-6, weightDecay: 0.01),
        RuleCase(type: "AdaDelta", fields: "momentum: 0.9 delta: 1e-4 weight_decay: 0.01 regularization_type: \"L1\" iter_size: 2",
                 momentum: 0.9, delta: 1e-4, weightDecay: 0.01, l1: true, iterSize: 2),
        RuleCase(type: "Adam", fields: "momentum: 0.9 momentum2: 0.999 delta: 1e-8 weight_decay: 0.01",
                 momentum: 0.9, weightDecay: 0.01),
        RuleCase(type: "Adam", fields: "momentum: 0.8 momentum2: 0.99 delta: 1e-4 iter_size: 2 clip_gradients: 0.5 weight_decay: 0.1 regularization_type: \"L1\"",
                 momentum: 0.8, momentum2: 0.99, delta: 1e-4, weightDecay: 0.1, l1: true, clip: 0.5, iterSize: 2),
    ]

    /// Three updates with injected gradients (through gradientHook) against the reference.
    @Test(arguments: cases)
    func ruleMatchesCaffeFormulas(_ c: RuleCase) throws {
        let solver = try tinySolver("type: \"\(c.type)\" \(c.fields)")
        let net = solver.net
        #expect(net.parameterCount == 8)
        #expect(solver.historyArenas.count == (c.type == "Adam" || c.type == "AdaDelta" ? 2 : 1))
        var lrMult: [Float] = [], decayMult: [Float] = []
        for (i, p) in net.learnableParams.enumerated() {
            lrMult += Array(repeating: net.paramLrMult[i], count: p.count)
            decayMult += Array(repeating: net.paramDecayMult[i], count: p.count)
        }
        #expect(lrMult == [2, 2, 2, 2, 2, 2, 0.5, 0.5])
        #expect(decayMult == [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0])

        var ref = ReferenceSolver(type: c.type, w: Array(net.weights), lrMult: lrMult, decayMult: decayMult)
        ref.momentum = c.momentum; ref.momentum2 = c.momentum2; ref.delta = c.delta
        ref.rmsDecay = c.rmsDecay; ref.weightDecay = c.weightDecay; ref.l1 = c.l1
        ref.clip = c.clip; ref.iterSize = c.iterSize

        var passes = 0
        solver.gradientHook = { s in
            passes += 1
            for j in 0..<8 { s.net.gradients[j] = seededGradient(s.iter, j) }
        }
        for t in 0..<3 {
            try solver.step(1)
            ref.step(gradient: (0..<8).map { seededGradient(t, $0) }, iter: t)
            for j in 0..<8 {
                #expect(close(net.weights[j], ref.w[j]), "\(c): iter \(t) w[\(j)] = \(net.weights[j]), reference \(ref.w[j])")
                #expect(close(solver.historyArenas[0][j], ref.h1[j]), "\(c): iter \(t) history[\(j)] = \(solver.historyArenas[0][j]), reference \(ref.h1[j])")
                if solver.historyArenas.count > 1 {
                    #expect(close(solver.historyArenas[1][j], ref.h2[j]), "\(c): iter \(t) history2[\(j)] = \(solver.historyArenas[1][j]), reference \(ref.h2[j])")
                }
            }
        }
        #expect(passes == 3)
        #expect(solver.iter == 3)
    }

    /// Real gradients: with a fixed batch, iter_size 2 accumulates the same gradient twice and
    /// divides by 2, so it follows the hand-computed SGD path of InnerProduct + EuclideanLoss.
    @Test(arguments: [1, 2])
    func iterSizeWithRealGradients(iterSize: Int) throws {
        let solver = try tinySolver("type: \"SGD\" momentum: 0.9 weight_decay: 0.01 iter_size: \(iterSize)")
        let net = solver.net
        let x: [Float] = [0.5, -1, 2, 1.5, 0.25, -0.75]
        let t: [Float] = [1, -1, 0.5, 2]
        net.blob(named: "x")!.setData(x)
        net.blob(named: "t")!.setData(t)
        var w = Array(net.weights).map(Double.init)   // W (2×3) then b (2)
        var h = Array(repeating: 0.0, count: 8)
        let lrMult = [2.0, 2, 2, 2, 2, 2, 0.5, 0.5], decayMult = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0]
        var losses: [Float] = []
        for _ in 0..<3 {
            // Forward: y = x·Wᵀ + b; loss = Σ(y − t)² / (2·2). Backward: dW = (y − t)ᵀ·x / 2, db = Σ_rows (y − t) / 2.
            var grad = Array(repeating: 0.0, count: 8)
            var loss = 0.0
            for n in 0..<2 {
                for o in 0..<2 {
                    var y = w[6 + o]
                    for k in 0..<3 { y += Double(x[n * 3 + k]) * w[o * 3 + k] }
                    let d = y - Double(t[n * 2 + o])
                    loss += d * d / 4
                    for k in 0..<3 { grad[o * 3 + k] += d * Double(x[n * 3 + k]) / 2 }
                    grad[6 + o] += d / 2
                }
            }
            try solver.step(1)
            losses.append(solver.smoothedLoss)
            #expect(close(solver.smoothedLoss, loss, rel: 1e-5))
            for j in 0..<8 {
                let g = grad[j] + 0.01 * decayMult[j] * w[j]
                h[j] = 0.1 * lrMult[j] * g + 0.9 * h[j]
                w[j] -= h[j]
            }
            for j in 0..<8 {
                #expect(close(net.weights[j], w[j], rel: 1e-4), "iter_size \(iterSize): w[\(j)] = \(net.weights[j]), expected \(w[j])")
            }
        }
        #expect(losses[2] < losses[0])
    }

    /// The average_loss window: the mean of the last `average_loss` iteration losses.
    @Test func averageLossSmoothing() throws {
        let solver = try tinySolver("type: \"SGD\" average_loss: 3")
        var seen: [Float] = []
        let net = solver.net
        net.blob(named: "x")!.setData([1, 2, 3, 4, 5, 6])
        net.blob(named: "t")!.setData([1, 0, 0, 1])
        for _ in 0..<6 {
            let before = try net.forward()   // the loss the next step sees (Input data is fixed)
            seen.append(before)
            try solver.step(1)
            let window = seen.suffix(3)
            let expected = window.reduce(0.0) { $0 + Double($1) } / Double(window.count)
            #expect(close(solver.smoothedLoss, expected, rel: 1e-5), "smoothed \(solver.smoothedLoss), expected \(expected)")
        }
    }

    /// Caffe's clip log line and the global-norm scaling.
    @Test func clipGradientsLogsCaffeLine() throws {
        let solver = try tinySolver("type: \"SGD\" clip_gradients: 0.1 display: 1")
        var lines: [String] = []
        solver.log = { lines.append($0) }
        solver.gradientHook = { s in for j in 0..<8 { s.net.gradients[j] = j == 0 ? 3 : (j == 1 ? 4 : 0) } }
        let w0 = Array(solver.net.weights)
        try solver.step(1)
        #expect(lines.contains("Gradient clipping: scaling down gradients (L2 norm 5 > 0.1) by scale factor 0.02"), "\(lines)")
        // w -= base_lr · lr_mult · g · 0.02
        #expect(close(solver.net.weights[0], Double(w0[0]) - 0.1 * 2 * 3 * 0.02))
        #expect(close(solver.net.weights[1], Double(w0[1]) - 0.1 * 2 * 4 * 0.02))
    }

    /// Adam and AdaDelta keep Caffe's history_ order in the solver state: every first-history
    /// blob, then every second.
    @Test(arguments: ["Adam", "AdaDelta"])
    func twoHistoryStateOrder(type: String) throws {
        let solver = try tinySolver("type: \"\(type)\" momentum: 0.9")
        solver.gradientHook = { s in for j in 0..<8 { s.net.gradients[j] = seededGradient(s.iter, j) } }
        try solver.step(2)
        let state = solver.makeSolverState(learnedNet: "m.caffemodel")
        #expect(state.history.count == 4)
        #expect(state.history.map { $0.shape.dim } == [[2, 3], [2], [2, 3], [2]])
        #expect(state.history[0].data == Array(solver.historyArenas[0][0..<6]))
        #expect(state.history[1].data == Array(solver.historyArenas[0][6..<8]))
        #expect(state.history[2].data == Array(solver.historyArenas[1][0..<6]))
        #expect(state.history[3].data == Array(solver.historyArenas[1][6..<8]))
        #expect(state.iter == 2)
        #expect(state.learnedNet == "m.caffemodel")
    }

    @Test func settingsCaffeRefusesAreErrors() throws {
        func message(_ extra: String) -> String? {
            do { _ = try tinySolver(extra); return nil } catch let e as SparkNetError { return e.message } catch { return "\(error)" }
        }
        #expect(message("type: \"AdaGrad\" momentum: 0.9")?.contains("momentum cannot be used with AdaGrad") == true)
        #expect(message("type: \"RMSProp\" momentum: 0.9")?.contains("momentum cannot be used with RMSProp") == true)
        #expect(message("type: \"RMSProp\" rms_decay: 1.5")?.contains("rms_decay") == true)
        #expect(message("type: \"Fancy\"")?.contains("unknown solver type 'Fancy'") == true)
        #expect(message("weight_decay: 0.1 regularization_type: \"L3\"")?.contains("unknown regularization_type 'L3'") == true)
        #expect(message("average_loss: 0")?.contains("average_loss") == true)
        // solver_type (enum) is upgraded to type; both together are refused.
        #expect(try tinySolver("solver_type: ADAM").param.type == "Adam")
        #expect(try tinySolver("solver_type: NESTEROV momentum: 0.9").rule.type == "Nesterov")
        #expect(message("solver_type: ADAM type: \"Adam\"")?.contains("cannot be both specified") == true)
    }

    /// random_seed ≥ 0 reseeds the context, so the same seed gives the same initial weights.
    @Test func randomSeedMakesInitialWeightsReproducible() throws {
        let a = try tinySolver("random_seed: 11", context: NetContext(seed: 1))
        let b = try tinySolver("random_seed: 11", context: NetContext(seed: 2))
        let c = try tinySolver("random_seed: 12", context: NetContext(seed: 1))
        #expect(Array(a.net.weights) == Array(b.net.weights))
        #expect(Array(a.net.weights) != Array(c.net.weights))
    }
}

/// `Net.update(scale:)` and `Solver.nextUpdateScale`: the scaled update model averaging puts
/// at the end of a round.
@Suite struct ScaledUpdateTests {
    /// 20 learnable values (5×3 weights, 5 biases): whole vectors and a tail.
    static let netText = """
    name: "scaled"
    layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 } } }
    layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 5 } }
    """

    /// Values chosen so w − g is exact and ×0.25, ×0.5 are exact: the result is known exactly.
    @Test func scaledUpdateIsScaleTimesDifference() throws {
        let net = try Net(param: try Prototxt.parse(Self.netText, as: Caffe_NetParameter.self, path: "scaled"), phase: .train)
        let n = net.weights.count
        #expect(n == 20)
        let w0 = (0..<n).map { Float($0) * 1.5 - 7 }
        let g = (0..<n).map { Float($0 % 7) * 0.25 - 0.5 }
        for scale: Float in [0.25, 0.5, 1, 3] {
            for j in 0..<n { net.weights[j] = w0[j]; net.gradients[j] = g[j] }
            net.update(scale: scale)
            for j in 0..<n {
                #expect(net.weights[j] == scale * (w0[j] - g[j]), "scale \(scale): w[\(j)] = \(net.weights[j])")
            }
            #expect(Array(net.gradients) == g, "the gradients are left alone")
        }
        // A power-of-two scale equals update() then a scale, bit for bit, on inexact values.
        let w1 = (0..<n).map { Float(sin(Double($0) * 0.7)) }
        let g1 = (0..<n).map { Float(cos(Double($0) * 1.3)) * 1e-3 }
        for j in 0..<n { net.weights[j] = w1[j]; net.gradients[j] = g1[j] }
        net.update()
        let reference = Array(net.weights).map { $0 * 0.125 }
        for j in 0..<n { net.weights[j] = w1[j] }
        net.update(scale: 0.125)
        #expect(Array(net.weights) == reference)
    }

    /// The scale applies to one update, after the rule: w ← s·(w − lr·g), then back to 1.
    @Test func solverAppliesTheScaleOnceThenResetsIt() throws {
        let solver = try tinySolver("type: \"SGD\"")
        let net = solver.net
        solver.gradientHook = { s in for j in 0..<8 { s.net.gradients[j] = seededGradient(s.iter, j) } }
        #expect(solver.nextUpdateScale == 1)
        let lrMult: [Float] = [2, 2, 2, 2, 2, 2, 0.5, 0.5]
        var w = Array(net.weights)
        for (t, scale) in [Float(0.5), 1, 0.25].enumerated() {
            solver.nextUpdateScale = scale
            try solver.step(1)
            #expect(solver.nextUpdateScale == 1, "iteration \(t): the scale was not reset")
            for j in 0..<8 { w[j] = scale * (w[j] - 0.1 * lrMult[j] * seededGradient(t, j)) }
            for j in 0..<8 {
                #expect(close(net.weights[j], Double(w[j]), rel: 1e-6), "iteration \(t): w[\(j)] = \(net.weights[j]), expected \(w[j])")
            }
        }
    }
}
