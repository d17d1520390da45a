import ArgumentParser
import BackupKit

struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "List the paths added, removed and changed from one set to another.",
        discussion: """
        Each line: '+' added, '-' removed, 'M' changed (another kind, content, size, mode or link target), \
        then source/path; a last line counts them. Incremental sets are compared by their indexes (the \
        content's SHA-256 in each); full sets by reading their tars through. Both sets are read from one sink.
        Exit codes: 0 compared, 2 bad arguments, 3 an artifact is damaged, 9 no such set.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The older set (a timestamp, 'latest', or a moment).", valueName: "SET_A"))
    var from: String

    @Argument(help: ArgumentHelp("The newer set.", valueName: "SET_B"))
    var to: String

    @Option(name: .long, help: ArgumentHelp("Read from this sink; default: the first that holds SET_A, local ones first.", valueName: "NAME"))
    var sink: String?

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Only this source (repeatable).", valueName: "SOURCE"))
    var only: [String] = []

    struct Output: Encodable {
        var from: SetTimestamp
        var to: SetTimestamp
        var sink: String
        var changes: [ContentChange]
        var added: Int
        var removed: Int
        var changed: Int
    }

    func run() async throws {
        do {
            let plan = try global.loadPlan()
            let browsing = SetBrowsing(plan: plan, only: only, logger: global.makeLogger())
            defer { browsing.removeStaging() }
            let (sink, old) = try await browsing.locate(from, sink: sink)
            let (_, new) = try await browsing.locate(to, sink: sink.name)
            let oldArtifacts = try browsing.treeArtifacts(of: old, in: sink)
            let newArtifacts = try browsing.treeArtifacts(of: new, in: sink)
            let json = global.json
            var changes: [ContentChange] = []
            var counts: [ContentChange.Kind: Int] = [:]
            let keys = Set((oldArtifacts + newArtifacts).map { "\($0.source)\u{0}\($0.subject)" }).sorted()
            for key in keys {
                let matching = { (artifacts: [ManifestArtifact]) in artifacts.first { "\($0.source)\u{0}\($0.subject)" == key } }
                let oldReader = try await matching(oldArtifacts).asyncMap { try await browsing.reader($0, of: old, in: sink) } ?? ContentReader.empty
                let newReader = try await matching(newArtifacts).asyncMap { try await browsing.reader($0, of: new, in: sink) } ?? ContentReader.empty
                let found = try await runBlocking {
                    var found: [ContentChange] = []
                    try SetComparison.changes(from: oldReader, to: newReader) { change in
                        found.append(change)
                        if !json {
                            let mark = switch change.change { case .added: "+"; case .removed: "-"; case .changed: "M" }
                            Terminal.out("\(mark) \(change.source)/\(change.path)")
                        }
                    }
                    return found
                }
                for change in found { counts[change.change, default: 0] += 1 }
                if json { changes += found }
            }
            let (added, removed, changed) = (counts[.added] ?? 0, counts[.removed] ?? 0, counts[.changed] ?? 0)
            if json {
                Terminal.json(Output(from: old.timestamp, to: new.timestamp, sink: sink.name, changes: changes, added: added, removed: removed, changed: changed),
                              schema: .diff)
            } else {
                Terminal.out("\(old.timestamp) → \(new.timestamp): \(added) added, \(removed) removed, \(changed) changed")
            }
        } catch {
            throw fail(error)
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
