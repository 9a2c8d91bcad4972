/*
 * file.c: replacing a configuration file durably: the new contents go to a hidden temporary file
 * in the same directory (a reload that runs meanwhile reads no half-written vhost file), which is
 * fsync'ed and renamed over the old one (keeping its mode), then the directory is fsync'ed, so
 * a crash leaves the old file or the new one, never a mix, and the new name is on disk once this
 * returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth_private.h"

/* fsync the directory that holds path. */
int auth_sync_dir_of(const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? auth_xmemdup(".", 1)
	                          : auth_xmemdup(path, slash == path ? 1 : (size_t)(slash - path));
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = AUTH_OK;

	if (fd < 0 || fsync(fd) != 0) {
		auth_errf(err, errlen, dir, 0, "cannot sync the directory: %s", strerror(errno));
		ret = AUTH_E_SYSTEM;
	}
	if (fd >= 0)
		close(fd);
	free(dir);
	return ret;
}

int auth_file_replace(const char *path, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	size_t dl = slash != NULL ? (size_t)(slash - path) + 1 : 0, off = 0;
	char *tmp = auth_xmalloc(strlen(path) + 16);
	struct stat st;
	mode_t mode = 0644;
	ssize_t n;
	int fd, ret = AUTH_E_SYSTEM;

	/* A hidden name: a reload that runs meanwhile reads no half-written vhost file. */
	snprintf(tmp, strlen(path) + 16, "%.*s.%s.XXXXXX", (int)dl, path, path + dl);
	if (stat(path, &st) == 0)
		mode = st.st_mode & 07777;
	if ((fd = mkstemp(tmp)) < 0) {
		auth_errf(err, errlen, tmp, 0, "cannot create: %s", strerror(errno));
		free(tmp);
		return AUTH_E_SYSTEM;
	}
	if (fchmod(fd, mode) != 0)
		goto fail;
	while (off < len) {
		if ((n = write(fd, buf + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	free(tmp);
	return auth_sync_dir_of(path, err, errlen);
fail:
	auth_errf(err, errlen, path, 0, "cannot write: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return ret;
}
