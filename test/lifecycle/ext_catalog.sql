-- Everything that defines the gcimpute extension in the current database, one line per
-- fact, sorted and free of oids: two databases hold the same extension when this prints
-- the same text.  test/suites/55-lifecycle.sh compares an updated database with a fresh
-- install by diffing it.  Column order is not compared (an updated table appends the
-- columns a fresh install declares in place; pg_dump names columns, so dumps agree).
--
--   psql -XAtq -v ON_ERROR_STOP=1 -d DB -f test/lifecycle/ext_catalog.sql
\set QUIET on
WITH ext AS (
	SELECT oid, extnamespace FROM pg_extension WHERE extname = 'gcimpute'
), member AS (
	SELECT d.classid, d.objid, d.objsubid
	FROM pg_depend d, ext
	WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), facts(fact) AS (
	-- the members themselves, with their comments
	SELECT 'member ' || pg_describe_object(m.classid, m.objid, m.objsubid)
		   || coalesce(' -- ' || obj_description(m.objid, m.classid::regclass::name), '')
	FROM member m
	UNION ALL
	-- extension settings: version, dump marks
	SELECT 'extension ' || e.extversion || ' relocatable=' || e.extrelocatable
		   || ' config=' || coalesce((SELECT string_agg(c::regclass::text || ':' || coalesce(f, ''), ',' ORDER BY c::regclass::text)
									  FROM unnest(e.extconfig, e.extcondition) AS u(c, f)), '')
	FROM pg_extension e WHERE e.extname = 'gcimpute'
	UNION ALL
	-- functions, procedures and aggregates: signature and every planner-visible property
	SELECT 'function ' || p.oid::regprocedure || ' returns ' || pg_get_function_result(p.oid)
		   || ' kind=' || p.prokind::text || ' lang=' || l.lanname || ' volatile=' || p.provolatile::text
		   || ' strict=' || p.proisstrict || ' parallel=' || p.proparallel::text || ' cost=' || p.procost
		   || ' rows=' || p.prorows || ' secdef=' || p.prosecdef || ' leakproof=' || p.proleakproof
		   || ' config=' || coalesce(array_to_string(p.proconfig, ','), '')
		   || ' args=' || pg_get_function_arguments(p.oid)
		   || ' src=' || md5(p.prosrc) || ' bin=' || coalesce(regexp_replace(p.probin, '.*/', ''), '')
		   || ' acl=' || coalesce(p.proacl::text, 'default')
	FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
	JOIN pg_language l ON l.oid = p.prolang
	UNION ALL
	SELECT 'aggregate ' || a.aggfnoid::regprocedure || ' kind=' || a.aggkind::text || ' trans=' || a.aggtransfn::regproc
		   || ' final=' || a.aggfinalfn::regproc || ' combine=' || a.aggcombinefn::regproc
		   || ' serial=' || a.aggserialfn::regproc || ' deserial=' || a.aggdeserialfn::regproc
		   || ' mtrans=' || a.aggmtransfn::regproc || ' minv=' || a.aggminvtransfn::regproc
		   || ' mfinal=' || a.aggmfinalfn::regproc || ' stype=' || a.aggtranstype::regtype
		   || ' sspace=' || a.aggtransspace || ' mstype=' || a.aggmtranstype::regtype
		   || ' init=' || coalesce(a.agginitval, '') || ' finalextra=' || a.aggfinalextra
		   || ' finalmodify=' || a.aggfinalmodify::text || ' sortop=' || a.aggsortop::regoper
	FROM member m JOIN pg_aggregate a ON m.classid = 'pg_proc'::regclass AND a.aggfnoid = m.objid
	UNION ALL
	-- relations: kind, options, row security, privileges
	SELECT 'relation ' || c.oid::regclass || ' kind=' || c.relkind::text || ' options=' || coalesce(c.reloptions::text, '')
		   || ' rls=' || c.relrowsecurity || ' force=' || c.relforcerowsecurity
		   || ' persistence=' || c.relpersistence::text || ' acl=' || coalesce(c.relacl::text, 'default')
	FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	UNION ALL
	-- columns (of tables, views, types' relations): type, nullability, default, storage,
	-- privileges, comment
	SELECT 'column ' || c.oid::regclass || '.' || quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
		   || ' notnull=' || a.attnotnull || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
		   || ' identity=' || a.attidentity::text || ' generated=' || a.attgenerated::text || ' storage=' || a.attstorage::text
		   || ' collation=' || coalesce(a.attcollation::regcollation::text, '')
		   || ' acl=' || coalesce(a.attacl::text, 'default')
		   || coalesce(' -- ' || col_description(c.oid, a.attnum), '')
	FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
	UNION ALL
	SELECT 'constraint ' || c.conrelid::regclass || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
	FROM member m JOIN pg_constraint c ON m.classid = 'pg_class'::regclass AND c.conrelid = m.objid
	UNION ALL
	SELECT 'index ' || regexp_replace(pg_get_indexdef(i.indexrelid), ' ON [^ ]+ ', ' ON ' || i.indrelid::regclass || ' ')
	FROM member m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
	UNION ALL
	SELECT 'view ' || c.oid::regclass || ' ' || pg_get_viewdef(c.oid)
	FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid AND c.relkind IN ('v', 'm')
	UNION ALL
	SELECT 'policy ' || p.polrelid::regclass || ' ' || p.polname || ' cmd=' || p.polcmd::text || ' permissive=' || p.polpermissive
		   || ' roles=' || (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY 1) FROM unnest(p.polroles) r)
		   || ' using=' || coalesce(pg_get_expr(p.polqual, p.polrelid), '')
		   || ' check=' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
	FROM member m JOIN pg_policy p ON m.classid = 'pg_class'::regclass AND p.polrelid = m.objid
	UNION ALL
	SELECT 'trigger ' || pg_get_triggerdef(t.oid)
	FROM member m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid AND NOT t.tgisinternal
	UNION ALL
	SELECT 'sequence ' || s.seqrelid::regclass || ' type=' || s.seqtypid::regtype || ' start=' || s.seqstart
		   || ' inc=' || s.seqincrement || ' max=' || s.seqmax || ' min=' || s.seqmin || ' cache=' || s.seqcache
		   || ' cycle=' || s.seqcycle
		   || ' owned_by=' || coalesce((SELECT d.refobjid::regclass || '.' || a.attname FROM pg_depend d
										JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
										WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid AND d.deptype = 'a'), '')
	FROM member m JOIN pg_sequence s ON m.classid = 'pg_class'::regclass AND s.seqrelid = m.objid
	UNION ALL
	-- types
	SELECT 'type ' || t.oid::regtype || ' type=' || t.typtype::text || ' len=' || t.typlen || ' byval=' || t.typbyval
		   || ' align=' || t.typalign::text || ' storage=' || t.typstorage::text || ' in=' || t.typinput::regproc
		   || ' out=' || t.typoutput::regproc || ' recv=' || t.typreceive::regproc || ' send=' || t.typsend::regproc
		   || ' modin=' || t.typmodin::regproc || ' modout=' || t.typmodout::regproc || ' analyze=' || t.typanalyze::regproc
		   || ' category=' || t.typcategory::text || ' delim=' || t.typdelim::text || ' elem=' || t.typelem::regtype
		   || ' acl=' || coalesce(t.typacl::text, 'default')
	FROM member m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
	UNION ALL
	SELECT 'cast ' || format_type(c.castsource, NULL) || ' -> ' || format_type(c.casttarget, NULL)
		   || ' func=' || coalesce(c.castfunc::regprocedure::text, '') || ' context=' || c.castcontext::text || ' method=' || c.castmethod::text
	FROM member m JOIN pg_cast c ON m.classid = 'pg_cast'::regclass AND c.oid = m.objid
	UNION ALL
	SELECT 'operator ' || o.oid::regoperator || ' func=' || o.oprcode::regproc || ' commutator=' || o.oprcom::regoperator
		   || ' negator=' || o.oprnegate::regoperator || ' restrict=' || o.oprrest::regproc || ' join=' || o.oprjoin::regproc
	FROM member m JOIN pg_operator o ON m.classid = 'pg_operator'::regclass AND o.oid = m.objid
	UNION ALL
	-- operator classes and families: their members
	SELECT 'opfamily-member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
	FROM member m JOIN pg_depend d ON m.classid = 'pg_opfamily'::regclass AND d.refclassid = 'pg_opfamily'::regclass
		AND d.refobjid = m.objid AND d.classid IN ('pg_amop'::regclass, 'pg_amproc'::regclass)
)
SELECT fact FROM facts ORDER BY fact COLLATE "C";
