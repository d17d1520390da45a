import BackupKit
import Foundation
import Glibc
import Synchronization

/// Output: results on stdout, messages and progress on stderr. Progress (``ProgressBoard``: a status
/// line and a bar per running phase) shows only when stderr is a terminal, and not with a log level
/// below `error` (the log lines tell the progress then); a message clears it first.
enum Terminal {
    static let stderrIsTerminal = isatty(STDERR_FILENO) == 1

    /// False once a log level below `error` was chosen.
    static let drawsProgress = Mutex(true)

    private static var showsProgress: Bool { stderrIsTerminal && drawsProgress.withLock { $0 } }

    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// Prints a message on stderr; on a terminal, above the progress, which is drawn again below it.
    static func error(_ text: String) {
        guard stderrIsTerminal else {
            FileHandle.standardError.write(Data((text + "\n").utf8))
            return
        }
        board.withLock { board in writeError(board.frame(above: [text], now: Date(), width: columns())) }
    }

    /// Whether `--json` was given: errors then go to stdout as JSON too (see ``jsonError(_:exitCode:)``).
    static let jsonMode = Mutex(false)

    /// Prints `value` as the JSON object of `schema`: its keys, and `"schema"` naming the schema and its
    /// version (documented in docs/json).
    static func json<T: Encodable>(_ value: T, schema: JSONSchema) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = (try? encoder.encode(JSONOutput(schema: schema, body: value))) ?? Data("{\"schema\": \"\(schema.rawValue)\"}".utf8)
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    /// Prints an error as `{"error": {"code", "exit_code", "message"}}` on stdout, for scripts that
    /// read `--json` output; the message goes to stderr as well.
    static func jsonError(_ error: BackupError, exitCode: Int32) {
        json(["error": JSONError(code: error.code.rawValue, exitCode: exitCode, message: error.message)], schema: .error)
    }

    private static let board = Mutex(ProgressBoard())

    /// Shows `text` as the status line above the phases' bars.
    static func progress(_ text: String) {
        guard showsProgress else { return }
        board.withLock { board in
            board.status = text
            writeError(board.frame(now: Date(), width: columns()))
        }
    }

    /// Draws a phase's progress: its bar while it runs, its summary line once it finished.
    static func phase(_ progress: PhaseProgress) {
        guard showsProgress else { return }
        board.withLock { board in
            let (now, width) = (Date(), columns())
            let summary = board.update(progress, now: now, width: width)
            writeError(board.frame(above: summary.map { [$0] } ?? [], now: now, width: width))
        }
    }

    /// Erases the progress and forgets it.
    static func clearProgress() {
        guard stderrIsTerminal else { return }
        board.withLock { board in
            writeError(board.erase())
            board = ProgressBoard()
        }
    }

    private static func writeError(_ text: String) {
        if !text.isEmpty { FileHandle.standardError.write(Data(text.utf8)) }
    }

    /// The terminal's width less one, so that no line ever wraps (a wrapped line would break the
    /// redraw); 80 when it cannot be read.
    private static func columns() -> Int {
        var size = winsize()
        let width = ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
        return max(20, width - 1)
    }
}

/// The schema of each command's `--json` output: the command and the version of its layout. A version
/// changes only when a key is renamed or removed, or its meaning changes; new keys may appear in any
/// version. The JSON Schema documents are docs/json/<command>.schema.json.
enum JSONSchema: String {
    case run = "backupctl.run.v1"
    case list = "backupctl.list.v1"
    case verify = "backupctl.verify.v1"
    case restore = "backupctl.restore.v1"
    case restoreDryRun = "backupctl.restore-dry-run.v1"
    case prune = "backupctl.prune.v1"
    case status = "backupctl.status.v1"
    case configCheck = "backupctl.config-check.v1"
    case configPrint = "backupctl.config-print.v1"
    case notify = "backupctl.notify.v1"
    case key = "backupctl.key.v1"
    case keyGenerate = "backupctl.key-generate.v1"
    case keyRekey = "backupctl.key-rekey.v1"
    case error = "backupctl.error.v1"
    case ls = "backupctl.ls.v1"
    case find = "backupctl.find.v1"
    case diff = "backupctl.diff.v1"
    case walPush = "backupctl.wal-push.v1"
    case walFetch = "backupctl.wal-fetch.v1"
    case walDrain = "backupctl.wal-drain.v1"
    case walStatus = "backupctl.wal-status.v1"
    case pitrDrill = "backupctl.pitr-drill.v1"
    case restorePITR = "backupctl.restore-pitr.v1"
    case pitrSetup = "backupctl.pitr-setup.v1"
}

/// A command's output with its `schema` key beside the body's own keys.
private struct JSONOutput<Body: Encodable>: Encodable {
    let schema: JSONSchema
    let body: Body

    private enum Key: String, CodingKey { case schema }

    func encode(to encoder: any Encoder) throws {
        try body.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(schema.rawValue, forKey: .schema)
    }
}

private struct JSONError: Encodable {
    let code: String
    let exitCode: Int32
    let message: String

    enum CodingKeys: String, CodingKey {
        case code, message
        case exitCode = "exit_code"
    }
}

/// An artifact as `list` and `status` print it: its name in the sink, size and modification time.
struct ListedArtifact: Encodable {
    var name: String
    var size: Int64
    var modified: Date?

    /// The rows for a set's stored objects, in name order.
    static func rows(_ objects: [StoredObject]) -> [ListedArtifact] {
        objects.map { ListedArtifact(name: $0.key, size: $0.size, modified: $0.modified) }.sorted { $0.name < $1.name }
    }
}

/// A set's time as people read it: in the plan's time zone, with the zone shown.
enum LocalTime {
    /// `2024-11-30 03:00:00 +01:00`.
    static func text(_ date: Date, in zone: TimeZone) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss ZZZZZ"
        return formatter.string(from: date)
    }
}
