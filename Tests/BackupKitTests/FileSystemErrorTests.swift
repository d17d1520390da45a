@testable import BackupKit
import Foundation
import Glibc
import Testing

/// Foundation's and the system's file errors become messages that name the path and the fix, with the
/// code the engine acts on, never "NSCocoaErrorDomain Code=513".
@Suite struct FileSystemErrorTests {
    @Test func foundationErrorsNameThePathAndTheFix() {
        let denied = BackupError.wrap(CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: "/srv/backups"]), as: .io, "sink 'local'")
        #expect(denied.message.hasPrefix("sink 'local': cannot use /srv/backups: permission denied. Give the user running backupctl ("), "\(denied.message)")
        #expect(denied.message.contains("(chown or chmod), or choose another path"), "\(denied.message)")
        let full = BackupError.wrap(CocoaError(.fileWriteOutOfSpace, userInfo: [NSFilePathErrorKey: "/srv/backups/x"]), as: .io, "writing")
        #expect(full.code == .diskSpace && full.message.contains("Free space on that volume"), "\(full.message)")
        let readOnly = BackupError.wrap(POSIXError(.EROFS), as: .io, "writing the state")
        #expect(readOnly.message == "writing the state: Read-only file system", "\(readOnly.message)")
        let readOnlyPath = fileSystemError("cannot write", "/srv/ro/state", errno: EROFS)
        #expect(readOnlyPath.message.contains("the file system is read-only") && readOnlyPath.message.contains("ReadWritePaths="), "\(readOnlyPath.message)")
        for error in [denied, full, readOnly, readOnlyPath] {
            #expect(!error.message.contains("NSCocoaErrorDomain") && !error.message.contains("Code="), "\(error.message)")
        }
    }

    /// What FileManager really throws: a directory under a regular file, and one in a full path that is
    /// a file itself.
    @Test func aDirectoryThatCannotBeMadeIsExplained() throws {
        let dir = try TemporaryDirectory("fs-errors")
        defer { dir.remove() }
        try writeFile(dir.sub("file"), "x")
        let underFile = #expect(throws: BackupError.self) { try makeDirectory(dir.sub("file/sub/dir"), purpose: "the staging directory") }
        #expect(underFile?.message == "cannot create the staging directory \(dir.sub("file/sub/dir")): \(dir.sub("file")) is a file, not a directory. Fix the path.",
                "\(underFile?.message ?? "")")
        let isFile = #expect(throws: BackupError.self) { try makeDirectory(dir.sub("file"), purpose: "the state directory") }
        #expect(isFile?.message.contains("\(dir.sub("file")) already exists and is not a directory") == true, "\(isFile?.message ?? "")")
        #expect(readableDescription(of: CocoaError(.fileReadUnknown)) == "a file operation failed, and the system gave no reason")
    }
}
