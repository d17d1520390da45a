import ArgumentParser
import BackupKit

struct LsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the files, directories and links a set holds.",
        discussion: """
        Reads an incremental set's index only (no pack), or reads a full set's tar through (each file \
        hashed for --json's sha256). Each line: kind (- file, d directory, l symlink, h hard link), mode, \
        size, mtime (UTC) and source/path. PATH selects like `restore --path`: a glob, or a directory and \
        everything below it.
        Exit codes: 0 listed, 2 bad arguments, 3 an artifact is damaged, 9 no such set or nothing matches PATH.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The set: a timestamp (YYYYMMDD_HHMMSS), 'latest', or a moment as `restore --set` takes it.", valueName: "SET"))
    var set: String = "latest"

    @Argument(help: ArgumentHelp("Only paths this pattern selects (relative to the source's root).", valueName: "PATH"))
    var path: String?

    @Option(name: .long, help: ArgumentHelp("Read from this sink; default: the first that holds the set, local ones first.", valueName: "NAME"))
    var sink: String?

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Only this source (repeatable).", valueName: "SOURCE"))
    var only: [String] = []

    struct Output: Encodable {
        var set: SetTimestamp
        var sink: String
        var entries: [ContentEntry]
    }

    func run() async throws {
        do {
            let plan = try global.loadPlan()
            let browsing = SetBrowsing(plan: plan, only: only, logger: global.makeLogger())
            defer { browsing.removeStaging() }
            let (sink, set) = try await browsing.locate(set, sink: sink)
            let pattern = path.map(GlobPattern.init)
            var entries: [ContentEntry] = []
            var matched = 0
            let json = global.json
            for artifact in try browsing.treeArtifacts(of: set, in: sink) {
                let reader = try await browsing.reader(artifact, of: set, in: sink)
                let (found, count) = try await runBlocking {
                    var found: [ContentEntry] = []
                    var count = 0
                    while let entry = try reader.next() {
                        if let pattern, !pattern.selects(entry.path, isDirectory: entry.kind == .directory) { continue }
                        count += 1
                        if json { found.append(entry) } else { Terminal.out(entry.line) }
                    }
                    return (found, count)
                }
                entries += found
                matched += count
            }
            if let path, matched == 0 {
                throw BackupError(.notFound, "set \(set.timestamp) holds nothing that \(path) selects; `backupctl ls \(set.timestamp)` lists all it holds")
            }
            if global.json { Terminal.json(Output(set: set.timestamp, sink: sink.name, entries: entries), schema: .ls) }
        } catch {
            throw fail(error)
        }
    }
}
