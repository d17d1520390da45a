import BackupKit
import Foundation
import Testing

/// A hostile archive cannot make a huge message: long entry names are shortened in errors.
@Suite struct MessageLengthTests {
    @Test func aTenThousandByteEntryNameMakesAShortError() async throws {
        let dir = try TemporaryDirectory("long-name")
        defer { dir.remove() }
        let plan = try await RestoreSafetyTests.storeHostileSet(dir, script: "add('../' + 'n' * 10000)")
        do {
            _ = try await Restorer(plan: plan, logger: testLogger).restore(.init(destination: .directory(dir.sub("target"))))
            Issue.record("the hostile archive was restored")
        } catch let error as BackupError {
            #expect(error.message.contains("contains '..'"), "\(error.message.prefix(300))")
            #expect(error.message.utf8.count < 1000, "the message is \(error.message.utf8.count) bytes")
            #expect(error.message.contains("more characters"), "\(error.message.prefix(300))")
        }
    }

    /// A name too long for the file system (found by the fault suite): refused before anything is
    /// written, in a short message, not by the disk writer halfway through with the whole name twice.
    @Test(arguments: ["'n' * 300", "'n' * 10000", "'/'.join(['d' * 200] * 30) + '/f'"])
    func aNameTooLongToWriteIsRefusedBeforeAnythingIs(name: String) async throws {
        let dir = try TemporaryDirectory("too-long-name")
        defer { dir.remove() }
        let plan = try await RestoreSafetyTests.storeHostileSet(dir, script: "add(\(name))")
        do {
            _ = try await Restorer(plan: plan, logger: testLogger).restore(.init(destination: .directory(dir.sub("target"))))
            Issue.record("the archive was restored")
        } catch let error as BackupError {
            #expect(error.code == .restoreFailed && error.message.contains("at most"), "\(error.message.prefix(300))")
            #expect(error.message.utf8.count < 1000, "the message is \(error.message.utf8.count) bytes")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.sub("target")), "nothing was written: \(listTree(dir.sub("target")).prefix(3))")
    }

    @Test func shortNamesStayWhole() {
        #expect("db/app.sql".shortenedForMessage == "db/app.sql")
        let long = String(repeating: "a", count: 150) + String(repeating: "b", count: 150)
        #expect(long.shortenedForMessage.hasPrefix(String(repeating: "a", count: 120)) && long.shortenedForMessage.hasSuffix(String(repeating: "b", count: 60)))
        #expect(long.shortenedForMessage.contains("(120 more characters)"))
    }
}
