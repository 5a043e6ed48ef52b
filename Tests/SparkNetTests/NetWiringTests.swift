import Testing
import SparkNet
import SparkNetTestSupport

@Suite struct NetWiringTests {
    @Test func unknownLayerTypeIsRefusedByName() throws {
        #expect(throws: SparkNetError.self) {
            _ = try Fixtures.net("""
            layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 } } }
            layer { name: "weird" type: "NoSuchLayer" bottom: "data" top: "y" }
            """)
        }
        do {
            _ = try Fixtures.net("layer { name: \"weird\" type: \"NoSuchLayer\" top: \"y\" }")
        } catch let e as SparkNetError {
            #expect(e.message.contains("weird"))
            #expect(e.message.contains("NoSuchLayer"))
        }
    }

    @Test func unknownBottomIsRefusedByName() throws {
        do {
            _ = try Fixtures.net("layer { name: \"relu\" type: \"ReLU\" bottom: \"nothing\" top: \"y\" }")
            Issue.record("expected an error")
        } catch let e as SparkNetError {
            #expect(e.message.contains("relu"))
            #expect(e.message.contains("nothing"))
        }
    }

    /// What gradient mode's overlap relies on: a param's gradient is final once backward has
    /// passed the lowest layer that uses it (its owner, or an earlier layer sharing it), and
    /// `afterBackwardLayer` reports every layer, from the last down.
    @Test func gradientsAreFinalAfterTheirLowestLayer() throws {
        let net = try Fixtures.net("""
        layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 2 dim: 4 } } }
        layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "a"
          param { name: "shared_w" } param { name: "shared_b" }
          inner_product_param { num_output: 4 weight_filler { type: "xavier" } } }
        layer { name: "ip2" type: "InnerProduct" bottom: "a" top: "b"
          inner_product_param { num_output: 4 weight_filler { type: "xavier" } } }
        layer { name: "ip3" type: "InnerProduct" bottom: "b" top: "c"
          param { name: "shared_w" } param { name: "shared_b" }
          inner_product_param { num_output: 4 weight_filler { type: "xavier" } } }
        layer { name: "loss" type: "EuclideanLoss" bottom: "c" bottom: "data" top: "loss" }
        """)
        // Owners in arena order: ip1's weight and bias (shared with ip3), then ip2's (a split
        // layer for "data" shifts the indices).
        let ip1 = try #require(net.layerNames.firstIndex(of: "ip1"))
        let ip2 = try #require(net.layerNames.firstIndex(of: "ip2"))
        #expect(net.paramOwners.map(\.layer) == [ip1, ip1, ip2, ip2])
        #expect(net.paramLastBackwardLayer == [ip1, ip1, ip2, ip2])
        var seen: [Int] = []
        net.afterBackwardLayer = { seen.append($0) }
        try net.forwardBackward()
        #expect(seen == Array(net.layers.indices.reversed()))
    }
}
