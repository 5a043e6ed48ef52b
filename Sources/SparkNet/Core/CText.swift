extension String {
    /// The text of a C character buffer (an error buffer, `gethostname`'s), up to its first NUL,
    /// or the whole buffer when it has none: a name that fills the buffer is not terminated.
    /// Invalid UTF-8 is repaired, not trusted. `package`: for our modules, not the library API.
    package init(cBuffer: [CChar]) {
        let end = cBuffer.firstIndex(of: 0) ?? cBuffer.endIndex
        self.init(decoding: cBuffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
