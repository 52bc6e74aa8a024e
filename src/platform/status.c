/*
 * status.c — the message of a GC_EFORMAT status (see status.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "platform/status.h"

int
gc_format_error(char *errbuf, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	if (errbuf && errlen)
	{
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return GC_EFORMAT;
}
