import ArgumentParser
import BackupKit
import BackupSources
import Foundation
import Glibc

struct PITRCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pitr",
        abstract: "Set up point-in-time recovery for a postgres source with pitr:.",
        subcommands: [Setup.self]
    )

    struct Setup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the postgresql.conf lines for WAL archiving, and check that the server's OS user can run them.",
            discussion: """
            Without --print, checks as the server's OS user (--os-user, default postgres) that it can run the \
            binary, read the plan (and the files it names) and write the spool, and names the chmod or chown that \
            fixes each problem. Exit codes: 0 ready, 1 a check failed, 2 plan error.
            """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var sourceOption: WALCommand.SourceOption

        @Flag(name: .long, help: "Only print the lines for postgresql.conf.")
        var print = false

        @Option(name: .customLong("os-user"), help: ArgumentHelp("The OS user PostgreSQL runs as.", valueName: "NAME"))
        var osUser = "postgres"

        func run() async throws {
            do {
                guard let planFile = global.planFile else {
                    throw BackupError(.usage, "PITR needs a plan file: archive_command runs `backupctl wal push --config FILE %p`. Give --config FILE.")
                }
                let planPath = resolvePath(planFile, against: FileManager.default.currentDirectoryPath)
                let archive = try WALArchive(plan: try global.loadPlan(), source: sourceOption.source)
                let executable = currentExecutable()
                // PostgreSQL replaces %p: a literal % in a path is written %%.
                let push = [executable, "wal", "push", "--config", planPath, "--source", archive.source.name].map(shellQuote).joined(separator: " ")
                    .replacingOccurrences(of: "%", with: "%%") + " %p"
                let lines = ["archive_mode = on", "archive_command = '\(push.replacingOccurrences(of: "'", with: "''"))'", "archive_timeout = 60",
                             "wal_level = replica"]
                let checks = print ? [] : check(executable: executable, planPath: planPath, archive: archive)
                if global.json {
                    Terminal.json(SetupReport(lines: lines, problems: checks), schema: .pitrSetup)
                } else {
                    Terminal.out("# postgresql.conf (then restart PostgreSQL; archive_timeout bounds how old the newest archived WAL gets):")
                    lines.forEach(Terminal.out)
                    if !print {
                        Terminal.out("")
                        if checks.isEmpty { Terminal.out("checks as \(osUser): the binary runs, the plan is readable, the spool is writable: ready") }
                        checks.forEach { Terminal.out("PROBLEM: \($0)") }
                    }
                }
                if !checks.isEmpty { throw ExitCode(ExitCodes.failure) }
            } catch let exit as ExitCode { throw exit } catch { throw fail(error) }
        }

        struct SetupReport: Encodable {
            var lines: [String]
            var problems: [String]
        }

        /// Runs `test -x/-r/-w` as the server's user for each path it needs.
        func check(executable: String, planPath: String, archive: WALArchive) -> [String] {
            var problems: [String] = []
            guard let user = getpwnam(osUser) else { return ["there is no OS user '\(osUser)'; pass --os-user with the user PostgreSQL runs as"] }
            let isThatUser = geteuid() == user.pointee.pw_uid
            guard geteuid() == 0 || isThatUser else {
                return ["cannot check what \(osUser) may do from this user: run `backupctl pitr setup` as root or as \(osUser) (or use --print)"]
            }
            func can(_ test: String, _ path: String) -> Bool {
                let (executable, arguments) = isThatUser ? ("test", [test, path]) : ("runuser", ["-u", osUser, "--", "test", test, path])
                guard let child = try? ChildProcess(executable: executable, arguments: arguments,
                                                    environment: ProcessInfo.processInfo.environment, stdout: .null) else { return false }
                return (try? child.wait(timeout: 30)) == 0
            }
            if !can("-x", executable) { problems.append("\(osUser) cannot run \(executable): chmod o+rx it and its directories, or install the package (/usr/bin/backupctl)") }
            if !can("-r", planPath) { problems.append("\(osUser) cannot read the plan \(planPath): chgrp \(osUser) \(planPath) && chmod g+r \(planPath)") }
            let spool = archive.spool.directory
            if FileManager.default.fileExists(atPath: spool) {
                if !can("-w", spool) { problems.append("\(osUser) cannot write the spool \(spool): chown -R \(osUser) \(spool)") }
            } else {
                problems.append("the spool \(spool) does not exist: install -d -o \(osUser) -m 0700 \(spool)")
            }
            for sink in archive.sinks {
                if let directory = sink.capabilities.localDirectory, !can("-w", directory) {
                    problems.append("\(osUser) cannot write the local sink '\(sink.name)' (\(directory)): chown \(osUser) \(directory) or add it to a group that can write it")
                }
            }
            return problems
        }
    }
}
