/*
 * gcimpute.h — declarations shared by the PostgreSQL glue files of gcimpute.
 */
#ifndef GCIMPUTE_H
#define GCIMPUTE_H

extern void _PG_init(void);

#endif
