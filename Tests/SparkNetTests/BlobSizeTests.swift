import Testing
import SparkNet
import SparkNetTestSupport

/// Blob sizes are checked before anything is allocated: Caffe's INT_MAX limit, negative
/// dimensions, and physical memory; a Net names the layer whose parameters asked for the size.
@Suite struct BlobSizeTests {
    @Test func checkedCountLimits() throws {
        #expect(try Blob.checkedCount([2, 3, 4]) == 24)
        #expect(try Blob.checkedCount([]) == 1)
        #expect(try Blob.checkedCount([Blob.maxCount]) == Blob.maxCount)
        #expect(throws: BlobSizeError.self) { try Blob.checkedCount([Blob.maxCount, 2]) }
        // The product overflows Int: refused, not wrapped around.
        #expect(throws: BlobSizeError.self) { try Blob.checkedCount([1 << 40, 1 << 40, 1 << 40]) }
        #expect(throws: BlobSizeError.self) { try Blob.checkedCount([4, -1]) }
        // 1,000 floats with their gradient need 8,000 bytes.
        #expect(try Blob.checkedCount([1000], memory: 8000) == 1000)
        #expect(throws: BlobSizeError.self) { try Blob.checkedCount([1000], memory: 7999) }
        #expect(try Blob.checkedCount([1000], withDiff: false, memory: 4000) == 1000)
    }

    @Test func reshapeRefusesBeforeAllocating() throws {
        let b = Blob(shape: [2, 2])
        #expect(throws: BlobSizeError.self) { try b.reshape([100_000, 100_000, 100_000]) }
        #expect(b.shape == [2, 2] && b.count == 4)
    }

    @Test func netNamesTheLayer() throws {
        let weights = """
        layer { name: "d" type: "Input" top: "d" input_param { shape { dim: 2 dim: 3 } } }
        layer { name: "ip" type: "InnerProduct" bottom: "d" top: "ip" inner_product_param { num_output: 2000000000 } }
        """
        let e1 = #expect(throws: SparkNetError.self) { try Fixtures.net(weights) }
        #expect(e1?.message.contains("layer 'ip' (InnerProduct): blob shape [2000000000, 3] holds more than INT_MAX") == true)
        let tops = """
        layer { name: "d" type: "Input" top: "d" input_param { shape { dim: 64 dim: 1 dim: 100 dim: 100 } } }
        layer { name: "c" type: "Convolution" bottom: "d" top: "c" convolution_param { num_output: 1000000 kernel_size: 1 } }
        """
        let e2 = #expect(throws: SparkNetError.self) { try Fixtures.net(tops) }
        #expect(e2?.message.contains("layer 'c' (Convolution): blob shape [64, 1000000, 100, 100] holds more than INT_MAX") == true)
        // Small weights (1000×1000) and top (1000×1000), but the im2col scratch would hold 10^12.
        let scratch = """
        layer { name: "d" type: "Input" top: "d" input_param { shape { dim: 1 dim: 1 dim: 1 dim: 1 } } }
        layer { name: "c" type: "Convolution" bottom: "d" top: "c" convolution_param { num_output: 1 kernel_size: 1000 pad: 999 } }
        """
        let e3 = #expect(throws: SparkNetError.self) { try Fixtures.net(scratch) }
        #expect(e3?.message.contains("layer 'c' (Convolution): blob shape") == true)
        #expect(e3?.message.contains("INT_MAX") == true)
    }
}
