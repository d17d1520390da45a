import ArgumentParser
import BackupKit
import Foundation

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a set's artifacts into a directory, after checking each against its manifest.",
        discussion: """
        With one artifact selected, it is extracted into DIR itself; with several, each goes into
        DIR/<source>. Entries with '..' or absolute paths, entries that would be written through a symlink,
        and device nodes are refused before anything is written. A non-empty target is refused unless
        --force is given. Exit codes: 0 restored, 8 refused or failed, 9 no such set.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Restore the newest good set (the default).")
    var latest = false

    @Option(name: .long, help: ArgumentHelp("Restore the set with this timestamp (YYYYMMDD_HHMMSS).", valueName: "TIMESTAMP"))
    var set: String?

    @Option(name: .long, help: ArgumentHelp("Restore only this source (repeatable).", valueName: "SOURCE"))
    var only: [String] = []

    @Option(name: .long, help: ArgumentHelp("The directory to restore into.", valueName: "DIR"))
    var to: String

    @Flag(name: .long, help: "Restore into a directory that is not empty, replacing files with the same names.")
    var force = false

    @Option(name: .long, help: ArgumentHelp("Read from this sink; default: the first sink (local first) that has the set.", valueName: "NAME"))
    var sink: String?

    func validate() throws {
        if latest && set != nil { throw ValidationError("give either --latest or --set, not both") }
    }

    func run() async throws {
        do {
            let plan = try global.loadPlan()
            let options = Restorer.Options(timestamp: try set.map(parseTimestamp), sink: sink, onlySources: only,
                                           destination: .directory(resolvePath(to, against: FileManager.default.currentDirectoryPath)), force: force)
            Terminal.progress("restoring…")
            let reports = try await Restorer(plan: plan, logger: global.makeLogger()).restore(options)
            Terminal.clearProgress()
            if global.json {
                Terminal.json(reports)
            } else {
                for report in reports {
                    Terminal.out("restored \(report.artifact) → \(report.destination): \(report.entries) entries, \(formatBytes(report.bytes))")
                }
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(error)
        }
    }
}
