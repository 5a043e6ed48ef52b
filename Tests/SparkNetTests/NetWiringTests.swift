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
}
