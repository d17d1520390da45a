/// The index of an incremental set as JSON Lines (docs/incremental-sets.md): a header line, one
/// ``IndexRecord`` line per path in tree order (``TreeOrder``), and a trailer line with the count, so
/// that a truncated index is an error, never a smaller set.
public enum IndexFile {
    public static let version: Int64 = 1

    public struct Header: Sendable, Hashable {
        public var source: String
        public var subject: String
        public var set: String
        public var root: String
        /// How the records are sorted: `tree` for directories, `bytes` for a bucket's keys (S3 lists them
        /// in that order).
        public var order: PathOrder

        public init(source: String, subject: String, set: String, root: String, order: PathOrder = .tree) {
            self.source = source
            self.subject = subject
            self.set = set
            self.root = root
            self.order = order
        }
    }

    /// Writes the lines through `output`, checking that records come in the header's order.
    public final class Writer {
        private let output: (UnsafeRawBufferPointer) throws -> Void
        private let order: PathOrder
        private var buffer: [UInt8] = []
        private var last: RawPath?
        public private(set) var entries: Int64 = 0
        public private(set) var fileBytes: Int64 = 0

        public init(header: Header, output: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
            self.output = output
            order = header.order
            var line = JSONLine()
            line.number("index", IndexFile.version)
            line.string("source", header.source)
            line.string("subject", header.subject)
            line.string("set", header.set)
            line.string("root", header.root)
            line.string("order", header.order.rawValue)
            try append(line.finished())
        }

        public func add(_ record: IndexRecord) throws {
            if let last, order.compare(last, record.path) >= 0 {
                throw BackupError(.sourceFailed, "the index would list \(record.path) after \(last): the walk is not in \(order.rawValue) order (a bug; please report it)")
            }
            last = record.path
            entries += 1
            if record.kind == .file { fileBytes += record.size }
            try append(record.encodedLine())
        }

        /// Writes the trailer and hands over what is buffered.
        public func finish() throws {
            var line = JSONLine()
            line.bool("end", true)
            line.number("entries", entries)
            line.number("bytes", fileBytes)
            try append(line.finished())
            try flush()
        }

        private func append(_ line: [UInt8]) throws {
            buffer += line
            buffer.append(10)
            if buffer.count >= 1 << 17 { try flush() }
        }

        private func flush() throws {
            try buffer.withUnsafeBytes { try output($0) }
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// Reads the records of an index in order, from its decompressed bytes, checking the header, the order
    /// and the trailer. `name` says which index in errors.
    public final class Reader {
        private let input: any ChunkReader
        private let name: String
        private let chunk: UnsafeMutableRawBufferPointer
        private var pending: [UInt8] = []
        private var position = 0
        private var ended = false
        private var last: RawPath?
        public private(set) var header: Header?
        public var order: PathOrder { header?.order ?? .tree }
        public private(set) var count: Int64 = 0
        private var lineNumber = 0

        public init(input: any ChunkReader, name: String) throws {
            self.input = input
            self.name = name
            chunk = .allocate(byteCount: 1 << 17, alignment: 16)
            guard let first = try nextLine() else { throw damaged("it is empty") }
            let fields: [String: FlatJSON.Value]
            do { fields = try FlatJSON.parse(first) } catch { throw damaged("line 1 is not a header: \(error)") }
            guard case .number(let version)? = fields["index"], version == IndexFile.version,
                  case .string(let source)? = fields["source"], case .string(let subject)? = fields["subject"],
                  case .string(let set)? = fields["set"], case .string(let root)? = fields["root"] else {
                throw damaged("line 1 is not an index header of version \(IndexFile.version)")
            }
            var order = PathOrder.tree
            if case .string(let name)? = fields["order"] {
                guard let known = PathOrder(rawValue: name) else { throw damaged("line 1 names the unknown order '\(name)'") }
                order = known
            }
            header = Header(source: source, subject: subject, set: set, root: root, order: order)
        }

        deinit { chunk.deallocate() }

        /// The next record, or nil after the trailer (whose count is checked).
        public func next() throws -> IndexRecord? {
            guard !ended else { return nil }
            guard let line = try nextLine() else { throw damaged("it ends after \(count) entries without its last line: it was cut short") }
            if line.starts(with: Array("{\"end\"".utf8)) {
                let fields: [String: FlatJSON.Value]
                do { fields = try FlatJSON.parse(line) } catch { throw damaged("line \(lineNumber): \(error)") }
                guard case .number(let recorded)? = fields["entries"], recorded == count else {
                    throw damaged("its last line records another number of entries than the \(count) it holds")
                }
                ended = true
                if try nextLine() != nil { throw damaged("it goes on after its last line") }
                return nil
            }
            let record: IndexRecord
            do { record = try IndexRecord(line: line) } catch { throw damaged("line \(lineNumber): \(error)") }
            if let last, order.compare(last, record.path) >= 0 {
                throw damaged("line \(lineNumber) (\(record.path)) is not in \(order.rawValue) order after \(last)")
            }
            last = record.path
            count += 1
            return record
        }

        private func damaged(_ problem: String) -> BackupError {
            BackupError(.verificationFailed, "the index \(name) is damaged: \(problem)")
        }

        private func nextLine() throws -> ArraySlice<UInt8>? {
            while true {
                if let newline = pending[position...].firstIndex(of: 10) {
                    let line = pending[position..<newline]
                    position = newline + 1
                    lineNumber += 1
                    return line
                }
                if position > 0 {
                    pending.removeFirst(position)
                    position = 0
                }
                let count = try input.read(into: chunk)
                if count == 0 {
                    guard pending.isEmpty else { throw damaged("its last line has no end: it was cut short") }
                    return nil
                }
                pending += UnsafeRawBufferPointer(rebasing: chunk[0..<count])
                guard pending.count <= 1 << 24 else { throw damaged("a line is longer than 16 MiB") }
            }
        }
    }
}

/// How an index sorts its paths: ``TreeOrder`` for directory trees, plain bytes for bucket keys.
public enum PathOrder: String, Sendable, Hashable {
    case tree
    case bytes

    /// Negative, zero or positive as `a` comes before, is, or comes after `b`.
    public func compare(_ a: RawPath, _ b: RawPath) -> Int {
        switch self {
        case .tree: return TreeOrder.compare(a, b)
        case .bytes:
            for (x, y) in zip(a.bytes, b.bytes) where x != y { return Int(x) - Int(y) }
            return a.bytes.count - b.bytes.count
        }
    }
}

/// The order of an index: paths compared component by component, each by its bytes; that is the
/// order of a depth-first walk that sorts each directory's names, so a walk and the previous index can
/// be merged in one pass. Comparing bytes with `/` taken as lower than any other byte gives it.
public enum TreeOrder {
    public static func precedes(_ a: RawPath, _ b: RawPath) -> Bool {
        compare(a, b) < 0
    }

    /// Negative, zero or positive as `a` comes before, is, or comes after `b`.
    public static func compare(_ a: RawPath, _ b: RawPath) -> Int {
        a.bytes.withUnsafeBufferPointer { x in
            b.bytes.withUnsafeBufferPointer { y in
                let count = min(x.count, y.count)
                for index in 0..<count where x[index] != y[index] {
                    let left = x[index] == 47 ? 0 : Int(x[index]) + 1
                    let right = y[index] == 47 ? 0 : Int(y[index]) + 1
                    return left - right
                }
                return x.count - y.count
            }
        }
    }
}
