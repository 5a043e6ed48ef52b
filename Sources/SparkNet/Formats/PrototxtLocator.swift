import Foundation
import SwiftProtobuf

/// Explains a failed text-format parse with a position. swift-protobuf's decoder reports only
/// the kind of error (`unknownField`, `malformedText`, ...), so on failure this re-reads the text
/// with a small tokenizer that tracks line and column, walks the message schema field by field
/// and lets swift-protobuf itself judge each field on its own (`T(textFormatString: "name: value")`).
/// The first field it rejects, or the first structural fault (a missing brace or colon), is
/// the culprit. The schema is discovered by the same means: a probe message with one field
/// set, traversed by a `Visitor`, tells the field's type.
enum PrototxtLocator {
    /// "12:5: unknown field 'num_ouput' in ConvolutionParameter (did you mean 'num_output'?)",
    /// or nil when the walk finds nothing wrong (the caller then reports `error` alone).
    static func locate<M: SwiftProtobuf.Message>(_ text: String, as: M.Type) -> String? {
        let tokens: [Token]
        switch tokenize(text) {
        case .success(let t): tokens = t
        case .failure(let fault): return fault.description
        }
        var walker = Walker(tokens: tokens)
        do {
            try walker.walk(M.self, close: nil, opener: nil)
            return nil
        } catch {
            return error.description
        }
    }

    /// "14:3: non-repeated field 'base_lr' of SolverParameter is specified multiple times
    /// (first at line 2, column 1)", or nil. swift-protobuf keeps the last value of a singular
    /// field given twice; Caffe's parser refuses it, and so do we. Run on text that decoded.
    static func duplicateField<M: SwiftProtobuf.Message>(_ text: String, as: M.Type) -> String? {
        guard case .success(let tokens) = tokenize(text) else { return nil }
        var scan = DuplicateScan(tokens: tokens)
        do {
            try scan.fields(of: M.self)
            return nil
        } catch {
            return error.description
        }
    }

    // MARK: Tokens

    struct Token {
        enum Kind: Equatable { case word, string, punct(Character), end }
        var kind: Kind
        var text: Substring
        var line: Int
        var column: Int

        /// How the token reads in a message: `'num_output'`, `"a string"` or `end of file`.
        var shown: String {
            switch kind {
            case .end: return "end of file"
            case .string: return text.count > 40 ? String(text.prefix(37)) + "...\"" : String(text)
            default: return "'\(text.count > 40 ? String(text.prefix(37)) + "..." : String(text))'"
            }
        }
    }

    /// An error at a line and column.
    struct Fault: Error, CustomStringConvertible {
        var line: Int
        var column: Int
        var message: String
        init(_ at: Token, _ message: String) {
            line = at.line; column = at.column; self.message = message
        }
        init(line: Int, column: Int, _ message: String) {
            self.line = line; self.column = column; self.message = message
        }
        var description: String { "\(line):\(column): \(message)" }
    }

    /// Splits protobuf text format into words (names, numbers, enum values), quoted strings and
    /// punctuation, dropping whitespace and `#` comments.
    static func tokenize(_ text: String) -> Result<[Token], Fault> {
        var tokens: [Token] = []
        var line = 1, column = 1
        var i = text.startIndex
        func advance() {
            if text[i] == "\n" || text[i] == "\r\n" || text[i] == "\r" { line += 1; column = 1 } else { column += 1 }
            i = text.index(after: i)
        }
        func isWordChar(_ c: Character) -> Bool {
            c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "." || c == "-" || c == "+")
        }
        while i < text.endIndex {
            let c = text[i]
            if c.isWhitespace || c == "\u{FEFF}" { advance(); continue }
            if c == "#" {
                while i < text.endIndex && !text[i].isNewline { advance() }
                continue
            }
            let start = i, l = line, col = column
            if c == "\"" || c == "'" {
                advance()
                var closed = false
                while i < text.endIndex && !text[i].isNewline {
                    let d = text[i]
                    advance()
                    if d == "\\" && i < text.endIndex && !text[i].isNewline { advance(); continue }
                    if d == c { closed = true; break }
                }
                if !closed {
                    return .failure(Fault(line: l, column: col, "unterminated string (expected a closing \(c) on the same line)"))
                }
                tokens.append(Token(kind: .string, text: text[start..<i], line: l, column: col))
            } else if "{}<>[]:,;".contains(c) {
                advance()
                tokens.append(Token(kind: .punct(c), text: text[start..<i], line: l, column: col))
            } else if isWordChar(c) {
                while i < text.endIndex && isWordChar(text[i]) { advance() }
                tokens.append(Token(kind: .word, text: text[start..<i], line: l, column: col))
            } else {
                return .failure(Fault(line: l, column: col, "unexpected character '\(c)'"))
            }
        }
        tokens.append(Token(kind: .end, text: text[text.endIndex...], line: line, column: column))
        return .success(tokens)
    }

    // MARK: Walking the schema

    struct Walker {
        let tokens: [Token]
        var position = 0

        var peek: Token { tokens[position] }
        mutating func next() -> Token {
            let t = tokens[position]
            if position < tokens.count - 1 { position += 1 }
            return t
        }

        /// Checks the fields of one `T` up to `close` (nil: the end of the text).
        mutating func walk<T: SwiftProtobuf.Message>(_ type: T.Type, close: Character?, opener: Token?) throws(Fault) {
            while true {
                let tok = peek
                switch tok.kind {
                case .punct(";"), .punct(","):
                    _ = next()
                    continue
                case .end:
                    if let close, let opener {
                        throw Fault(tok, "expected '\(close)' to close '\(opener.text) \(close == "}" ? "{" : "<")' (line \(opener.line), column \(opener.column), in \(messageName(T.self))), found end of file")
                    }
                    return
                case .punct("}"), .punct(">"):
                    if case .punct(let c) = tok.kind, c == close {
                        _ = next()
                        return
                    }
                    if let close {
                        throw Fault(tok, "expected '\(close)' or a field of \(messageName(T.self)), found \(tok.shown)")
                    }
                    throw Fault(tok, "unexpected \(tok.shown): no open '{' to close")
                case .word where isIdentifier(tok.text):
                    break
                default:
                    throw Fault(tok, "expected a field name of \(messageName(T.self)), found \(tok.shown)")
                }
                let nameTok = next()
                let name = String(nameTok.text)
                var colon = false
                if peek.kind == .punct(":") { _ = next(); colon = true }
                let value = peek
                switch value.kind {
                case .punct("{"), .punct("<"):
                    guard let kind = FieldKind.of(name, in: T.self) else { throw unknownField(nameTok, T.self) }
                    guard case .message(let sub) = kind else {
                        throw Fault(value, "field '\(name)' of \(messageName(T.self)) is \(kind.expected), not a message; expected '\(name): <value>'")
                    }
                    _ = next()
                    try walkOpened(sub, close: value.kind == .punct("{") ? "}" : ">", opener: nameTok)
                case .punct("["):
                    guard colon else { throw missingColon(nameTok, value, T.self) }
                    var depth = 0
                    let start = position
                    repeat {
                        let t = next()
                        if t.kind == .end {
                            throw Fault(value, "expected ']' to close the list of '\(name)' opened here, found end of file")
                        }
                        if t.kind == .punct("[") || t.kind == .punct("{") || t.kind == .punct("<") { depth += 1 }
                        if t.kind == .punct("]") || t.kind == .punct("}") || t.kind == .punct(">") { depth -= 1 }
                    } while depth > 0
                    let raw = tokens[start].text.startIndex..<tokens[position - 1].text.endIndex
                    try check(name, nameTok: nameTok, value: value, raw: String(tokens[start].text.base[raw]), in: T.self)
                case .word, .string:
                    guard colon else { throw missingColon(nameTok, value, T.self) }
                    var last = next()
                    // Adjacent strings concatenate ("a" "b").
                    if last.kind == .string { while peek.kind == .string { last = next() } }
                    let raw = String(value.text.base[value.text.startIndex..<last.text.endIndex])
                    try check(name, nameTok: nameTok, value: value, raw: raw, in: T.self)
                default:
                    if !colon { throw missingColon(nameTok, value, T.self) }
                    guard let kind = FieldKind.of(name, in: T.self) else { throw unknownField(nameTok, T.self) }
                    throw Fault(value, "expected \(kind.expected) after '\(name):', found \(value.shown)")
                }
            }
        }

        /// `walk` for a message type known only at run time (opens the existential).
        mutating func walkOpened(_ type: any SwiftProtobuf.Message.Type, close: Character, opener: Token) throws(Fault) {
            func open<S: SwiftProtobuf.Message>(_ s: S.Type, _ w: inout Walker) throws(Fault) {
                try w.walk(S.self, close: close, opener: opener)
            }
            try open(type, &self)
        }

        func missingColon<T: SwiftProtobuf.Message>(_ nameTok: Token, _ found: Token, _ type: T.Type) -> Fault {
            let name = String(nameTok.text)
            guard let kind = FieldKind.of(name, in: T.self) else { return unknownField(nameTok, T.self) }
            if case .message = kind {
                return Fault(found, "expected '{' after '\(name)' (a \(kind.expected)), found \(found.shown)")
            }
            return Fault(found, "expected ':' after field name '\(name)', found \(found.shown)")
        }

        /// Lets swift-protobuf parse `name: raw` alone in a `T` and explains a refusal.
        func check<T: SwiftProtobuf.Message>(_ name: String, nameTok: Token, value: Token, raw: String,
                                             in type: T.Type) throws(Fault) {
            let error: Error
            do {
                _ = try T(textFormatString: "\(name): \(raw)")
                return
            } catch let e {
                error = e
            }
            guard let kind = FieldKind.of(name, in: T.self) else { throw unknownField(nameTok, T.self) }
            let shownValue = raw.count > 40 ? String(raw.prefix(37)) + "..." : raw
            switch kind {
            case .message:
                throw Fault(value, "field '\(name)' of \(messageName(T.self)) is a \(kind.expected); expected '\(name) { ... }', found \(value.shown)")
            case .enumeration:
                let names = FieldKind.enumNames(name, in: T.self)
                var message = "unknown value '\(shownValue)' for field '\(name)' of \(messageName(T.self)); expected one of \(names.joined(separator: ", "))"
                if let guess = closest(raw, in: names) { message += " (did you mean \(guess)?)" }
                throw Fault(value, message)
            default:
                if case TextFormatDecodingError.unknownField = error { throw unknownField(nameTok, T.self) }
                throw Fault(value, "invalid value '\(shownValue)' for field '\(name)' of \(messageName(T.self)); expected \(kind.expected)")
            }
        }

        func unknownField<T: SwiftProtobuf.Message>(_ nameTok: Token, _ type: T.Type) -> Fault {
            let name = String(nameTok.text)
            var message = "unknown field '\(name)' in \(messageName(T.self))"
            let guesses = FieldKind.suggestions(for: name, in: T.self).prefix(3)
            if !guesses.isEmpty { message += " (did you mean " + guesses.map { "'\($0)'" }.joined(separator: " or ") + "?)" }
            return Fault(nameTok, message)
        }
    }

    /// Walks decoded text scope by scope, remembering where each field name first appeared.
    /// Field types and repeatedness are probed once per (message, field).
    struct DuplicateScan {
        let tokens: [Token]
        var position = 0
        var messageTypes: [String: any SwiftProtobuf.Message.Type] = [:]
        var repeated: [String: Bool] = [:]

        /// Something the scan does not follow (extensions, Any): the scan stops without verdict.
        struct Unfollowed: Error {}

        mutating func next() -> Token {
            let t = tokens[position]
            if position < tokens.count - 1 { position += 1 }
            return t
        }

        mutating func fields<T: SwiftProtobuf.Message>(of type: T.Type) throws(Fault) {
            do { try scope(T.self) } catch let fault as Fault { throw fault } catch {}
        }

        /// The fields of one `T` up to its closing brace (or the end of the text).
        mutating func scope<T: SwiftProtobuf.Message>(_ type: T.Type) throws {
            var seen: [Substring: Token] = [:]
            while true {
                let tok = next()
                switch tok.kind {
                case .end, .punct("}"), .punct(">"): return
                case .punct(";"), .punct(","): continue
                case .word: break
                default: throw Unfollowed()
                }
                let key = "\(T.protoMessageName).\(tok.text)"
                if let first = seen[tok.text] {
                    if repeated[key] == nil { repeated[key] = FieldKind.isRepeated(String(tok.text), in: T.self) }
                    if repeated[key] == false {
                        throw Fault(tok, "non-repeated field '\(tok.text)' of \(messageName(T.self)) is specified multiple times (first at line \(first.line), column \(first.column))")
                    }
                } else {
                    seen[tok.text] = tok
                }
                if tokens[position].kind == .punct(":") { _ = next() }
                let value = next()
                switch value.kind {
                case .punct("{"), .punct("<"):
                    if messageTypes[key] == nil, case .message(let sub)? = FieldKind.of(String(tok.text), in: T.self) {
                        messageTypes[key] = sub
                    }
                    guard let sub = messageTypes[key] else { throw Unfollowed() }
                    try scopeOpened(sub)
                case .punct("["):
                    // A list: only repeated fields take one.
                    var depth = 1
                    while depth > 0 {
                        let t = next()
                        if t.kind == .end { return }
                        if t.kind == .punct("[") { depth += 1 }
                        if t.kind == .punct("]") { depth -= 1 }
                    }
                case .string:
                    while tokens[position].kind == .string { _ = next() }
                case .word: break
                default: throw Unfollowed()
                }
            }
        }

        /// `scope` for a message type known only at run time.
        mutating func scopeOpened(_ type: any SwiftProtobuf.Message.Type) throws {
            func open<S: SwiftProtobuf.Message>(_ s: S.Type, _ scan: inout DuplicateScan) throws {
                try scan.scope(S.self)
            }
            try open(type, &self)
        }
    }

    // MARK: Field kinds, found by probing

    /// What a field holds, as a probe message with only that field set reveals to a visitor.
    enum FieldKind {
        case message(any SwiftProtobuf.Message.Type)
        case enumeration
        case float, signed, unsigned, bool, string

        /// How the expected value reads in a message.
        var expected: String {
            switch self {
            case .message(let t): return "message \(messageName(t))"
            case .enumeration: return "an enum value"
            case .float: return "a number"
            case .signed: return "an integer"
            case .unsigned: return "a non-negative integer"
            case .bool: return "true or false"
            case .string: return "a quoted string"
            }
        }

        /// The kind of field `name` of `T`, or nil when `T` has no such field.
        static func of<T: SwiftProtobuf.Message>(_ name: String, in type: T.Type) -> FieldKind? {
            guard mayExist(name, in: T.self) else { return nil }
            for probe in probes(name) {
                guard let m = try? T(textFormatString: probe) else { continue }
                var visitor = KindVisitor()
                try? m.traverse(visitor: &visitor)
                if let k = visitor.kind { return k }
            }
            return nil
        }

        /// One value of each type for field `name` (enums need their numbers).
        static func probes(_ name: String) -> [String] {
            ["\(name) {}", "\(name): \"\"", "\(name): 0", "\(name): true"] + (1..<64).map { "\(name): \($0)" }
        }

        /// Whether field `name` of `T` is repeated: given twice, it keeps two values (a
        /// singular field keeps the last). True when no probe parses (no verdict).
        static func isRepeated<T: SwiftProtobuf.Message>(_ name: String, in type: T.Type) -> Bool {
            for probe in probes(name) {
                guard (try? T(textFormatString: probe)) != nil,
                      let twice = try? T(textFormatString: probe + " " + probe) else { continue }
                var visitor = CountVisitor()
                try? twice.traverse(visitor: &visitor)
                return visitor.count > 1
            }
            return true
        }

        /// Whether `T` has a field `name`: some value of some type parses.
        static func exists<T: SwiftProtobuf.Message>(_ name: String, in type: T.Type) -> Bool {
            of(name, in: T.self) != nil
        }

        /// False when swift-protobuf calls `name` an unknown field of `T` (a cheap first test).
        static func mayExist<T: SwiftProtobuf.Message>(_ name: String, in type: T.Type) -> Bool {
            do {
                _ = try T(textFormatString: "\(name) {}")
                return true
            } catch TextFormatDecodingError.unknownField {
                return false
            } catch {
                return true
            }
        }

        /// The value names of enum field `name` of `T`, in number order (values 0..<64).
        static func enumNames<T: SwiftProtobuf.Message>(_ name: String, in type: T.Type) -> [String] {
            var names: [String] = []
            for k in 0..<64 {
                guard let m = try? T(textFormatString: "\(name): \(k)") else { continue }
                // The encoder prints "name: VALUE".
                let line = m.textFormatString()
                if let colon = line.firstIndex(of: ":") {
                    let v = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                    if !v.isEmpty && !names.contains(v) { names.append(v) }
                }
            }
            return names
        }

        /// The fields of `T` one edit away from `name` (or differing only in case), those
        /// sharing the longest prefix with it first.
        static func suggestions<T: SwiftProtobuf.Message>(for name: String, in type: T.Type) -> [String] {
            let lower = name.lowercased()
            if lower != name && exists(lower, in: T.self) { return [lower] }
            let chars = Array(lower)
            let alphabet = Array("abcdefghijklmnopqrstuvwxyz_0123456789")
            var candidates: Set<String> = []
            for i in 0...chars.count {
                for a in alphabet { candidates.insert(String(chars[..<i]) + String(a) + String(chars[i...])) }
                guard i < chars.count else { break }
                candidates.insert(String(chars[..<i]) + String(chars[(i + 1)...]))
                for a in alphabet where a != chars[i] {
                    candidates.insert(String(chars[..<i]) + String(a) + String(chars[(i + 1)...]))
                }
                if i + 1 < chars.count {
                    var t = chars; t.swapAt(i, i + 1)
                    candidates.insert(String(t))
                }
            }
            let found = candidates.filter { $0 != name && isIdentifier(Substring($0)) && exists($0, in: T.self) }
            func shared(_ s: String) -> Int { zip(s, lower).prefix { $0 == $1 }.count }
            return found.sorted { (shared($0), $1) > (shared($1), $0) }
        }
    }

    /// Records the kind of the (only) field set in a probe message.
    struct KindVisitor: SwiftProtobuf.Visitor {
        var kind: FieldKind?
        mutating func visitSingularFloatField(value: Float, fieldNumber: Int) throws { kind = .float }
        mutating func visitSingularDoubleField(value: Double, fieldNumber: Int) throws { kind = .float }
        mutating func visitSingularInt32Field(value: Int32, fieldNumber: Int) throws { kind = .signed }
        mutating func visitSingularInt64Field(value: Int64, fieldNumber: Int) throws { kind = .signed }
        mutating func visitSingularUInt32Field(value: UInt32, fieldNumber: Int) throws { kind = .unsigned }
        mutating func visitSingularUInt64Field(value: UInt64, fieldNumber: Int) throws { kind = .unsigned }
        mutating func visitSingularBoolField(value: Bool, fieldNumber: Int) throws { kind = .bool }
        mutating func visitSingularStringField(value: String, fieldNumber: Int) throws { kind = .string }
        mutating func visitSingularBytesField(value: Data, fieldNumber: Int) throws { kind = .string }
        mutating func visitSingularEnumField<E: SwiftProtobuf.Enum>(value: E, fieldNumber: Int) throws { kind = .enumeration }
        mutating func visitSingularMessageField<N: SwiftProtobuf.Message>(value: N, fieldNumber: Int) throws { kind = .message(N.self) }
        mutating func visitRepeatedMessageField<N: SwiftProtobuf.Message>(value: [N], fieldNumber: Int) throws { kind = .message(N.self) }
        mutating func visitMapField<K, V: MapValueType>(fieldType: _ProtobufMap<K, V>.Type,
                                                        value: _ProtobufMap<K, V>.BaseType, fieldNumber: Int) throws {}
        mutating func visitMapField<K, V>(fieldType: _ProtobufEnumMap<K, V>.Type,
                                          value: _ProtobufEnumMap<K, V>.BaseType, fieldNumber: Int) throws {}
        mutating func visitMapField<K, V>(fieldType: _ProtobufMessageMap<K, V>.Type,
                                          value: _ProtobufMessageMap<K, V>.BaseType, fieldNumber: Int) throws {}
        mutating func visitUnknown(bytes: Data) throws {}
    }

    /// Counts the values a message holds; repeated fields visit each element (the defaults).
    struct CountVisitor: SwiftProtobuf.Visitor {
        var count = 0
        mutating func visitSingularDoubleField(value: Double, fieldNumber: Int) throws { count += 1 }
        mutating func visitSingularInt64Field(value: Int64, fieldNumber: Int) throws { count += 1 }
        mutating func visitSingularUInt64Field(value: UInt64, fieldNumber: Int) throws { count += 1 }
        mutating func visitSingularBoolField(value: Bool, fieldNumber: Int) throws { count += 1 }
        mutating func visitSingularStringField(value: String, fieldNumber: Int) throws { count += 1 }
        mutating func visitSingularBytesField(value: Data, fieldNumber: Int) throws { count += 1 }
        mutating func visitSingularEnumField<E: SwiftProtobuf.Enum>(value: E, fieldNumber: Int) throws { count += 1 }
        mutating func visitSingularMessageField<N: SwiftProtobuf.Message>(value: N, fieldNumber: Int) throws { count += 1 }
        mutating func visitMapField<K, V: MapValueType>(fieldType: _ProtobufMap<K, V>.Type,
                                                        value: _ProtobufMap<K, V>.BaseType, fieldNumber: Int) throws { count += value.count }
        mutating func visitMapField<K, V>(fieldType: _ProtobufEnumMap<K, V>.Type,
                                          value: _ProtobufEnumMap<K, V>.BaseType, fieldNumber: Int) throws { count += value.count }
        mutating func visitMapField<K, V>(fieldType: _ProtobufMessageMap<K, V>.Type,
                                          value: _ProtobufMessageMap<K, V>.BaseType, fieldNumber: Int) throws { count += value.count }
        mutating func visitUnknown(bytes: Data) throws {}
    }

    // MARK: Helpers

    /// "ConvolutionParameter" for caffe.ConvolutionParameter.
    static func messageName(_ type: any SwiftProtobuf.Message.Type) -> String {
        let full = type.protoMessageName
        return full.split(separator: ".").last.map(String.init) ?? full
    }

    static func isIdentifier(_ s: Substring) -> Bool {
        guard let f = s.first, f.isASCII, f.isLetter || f == "_" else { return false }
        return s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    /// The name in `names` nearest to `word` by edit distance, if it is close (≤ 2, or a case change).
    static func closest(_ word: String, in names: [String]) -> String? {
        var best: (String, Int)?
        for n in names {
            let d = n.uppercased() == word.uppercased() ? 0 : editDistance(Array(word), Array(n))
            if d <= 2 && (best == nil || d < best!.1) { best = (n, d) }
        }
        return best?.0
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var prev = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}
