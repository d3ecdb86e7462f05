/** Why the file system refused, in words, by Node's error code. */
const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or folder',
  EEXIST: 'a file of that name is in the way',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
};

/** A file-system error's reason in words, or undefined for an error that is not one of those. */
export function fileErrorReason(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error ? FILE_ERRORS[String(error.code)] : undefined;
}
