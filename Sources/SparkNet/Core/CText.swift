extension String {
    /// The text of a C character buffer (an error buffer, `gethostname`'s, a fixed-width field
    /// received over MPI), up to its first NUL, or the whole buffer when it has none: a name
    /// that fills the buffer is not terminated. Invalid UTF-8 is repaired, not trusted.
    /// `package`: for our modules, not the library API.
    package init<Bytes: Collection>(cBuffer: Bytes) where Bytes.Element: FixedWidthInteger {
        self.init(decoding: cBuffer.prefix { $0 != 0 }.map { UInt8(truncatingIfNeeded: $0) }, as: UTF8.self)
    }
}
