-- Every column type MariaDB and MySQL write to a row-based binlog, with edge values: the
-- binlog test runs this under FULL and MINIMAL images (and compressed events) and compares
-- what lifeboat decodes with mariadb-binlog -vv or mysqlbinlog -vv. MariaDB-only types are
-- in `/*M! */` comments, which MySQL skips.
CREATE DATABASE IF NOT EXISTS bt;
USE bt;
SET NAMES utf8mb4;
-- MySQL's default sql_mode refuses the zero dates.
SET SESSION sql_mode = '';
CREATE TABLE nums (
  id INT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED,
  mi MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
  bi BIGINT, bu BIGINT UNSIGNED,
  f FLOAT, d DOUBLE,
  d1 DECIMAL(10,2), d2 DECIMAL(65,30), d3 DECIMAL(5,0), d4 DECIMAL(18,9) UNSIGNED,
  b1 BIT(1), b2 BIT(13), b3 BIT(64), y YEAR, bo BOOLEAN
);
INSERT INTO nums VALUES
 (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
  -9223372036854775808, 18446744073709551615, -1.5, 3.141592653589793,
  -12345678.91, -12345678901234567890123456789012345.123456789012345678901234567890, 99999, 123456789.987654321,
  b'1', b'1010101010101', b'1111111111111111111111111111111111111111111111111111111111111111', 1901, TRUE),
 (2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0, 0, -0.000001,
  0.00, 0, -1, 0.000000001, b'0', b'0', b'0', 2155, FALSE),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL),
 (4, 0, 1, -1, 1, -1, 1, -1, 1, -1, 1, 1e30, -1e-300, 0.01, 0.000000000000000000000000000001, 0, 0, b'1', b'1', b'1', 0, NULL);
UPDATE nums SET ti = ti - 1, d1 = d1 * 2, f = 2.25 WHERE id IN (2, 4);

CREATE TABLE times (
  id INT PRIMARY KEY,
  dt DATE, t0 TIME, t3 TIME(3), t6 TIME(6), dt0 DATETIME, dt2 DATETIME(2), dt6 DATETIME(6),
  ts0 TIMESTAMP NULL, ts4 TIMESTAMP(4) NULL, ts6 TIMESTAMP(6) NULL
);
SET time_zone = '+00:00';
INSERT INTO times VALUES
 (1, '2024-02-29', '838:59:59', '-838:59:59.000', '-00:00:00.000001', '1000-01-01 00:00:00',
  '9999-12-31 23:59:59.99', '2024-06-30 12:34:56.789012', '1970-01-01 00:00:01',
  '2038-01-19 03:14:07.9999', '2001-09-09 01:46:40.123456'),
 (2, '0000-00-00', '00:00:00', '-12:34:56.789', '-01:00:00.5', '0000-00-00 00:00:00',
  '2000-01-01 00:00:00.01', '1999-12-31 23:59:59.999999', NULL, NULL, NULL),
 (3, '1000-01-01', '-00:00:01', '00:00:00.001', '23:59:59.999999', '2020-02-02 02:02:02',
  '1970-01-01 00:00:00.00', '1000-01-01 00:00:00.000001', '2020-01-01 00:00:00', '2020-01-01 00:00:00.0001', '2020-01-01 00:00:00.000001');
DELETE FROM times WHERE id = 2;

CREATE TABLE strs (
  id INT PRIMARY KEY,
  c CHAR(10), cu CHAR(10) CHARACTER SET utf8mb4, cl CHAR(255) CHARACTER SET utf8mb4,
  vc VARCHAR(20), vl VARCHAR(1000) CHARACTER SET utf8mb4, vb VARBINARY(300), bn BINARY(4),
  tt TINYTEXT, tx TEXT, mt MEDIUMTEXT, lt LONGTEXT, tb TINYBLOB, bb BLOB, mb MEDIUMBLOB, lb LONGBLOB,
  e ENUM('a','b','c'), e2 ENUM('x0','x1','x2','x3','x4','x5','x6','x7','x8','x9','x10','x11','x12','x13','x14','x15','x16','x17','x18','x19','x20','x21','x22','x23','x24','x25','x26','x27','x28','x29','x30','x31','x32','x33','x34','x35','x36','x37','x38','x39','x40','x41','x42','x43','x44','x45','x46','x47','x48','x49','x50','x51','x52','x53','x54','x55','x56','x57','x58','x59','x60','x61','x62','x63','x64','x65','x66','x67','x68','x69','x70','x71','x72','x73','x74','x75','x76','x77','x78','x79','x80','x81','x82','x83','x84','x85','x86','x87','x88','x89','x90','x91','x92','x93','x94','x95','x96','x97','x98','x99','x100','x101','x102','x103','x104','x105','x106','x107','x108','x109','x110','x111','x112','x113','x114','x115','x116','x117','x118','x119','x120','x121','x122','x123','x124','x125','x126','x127','x128','x129','x130','x131','x132','x133','x134','x135','x136','x137','x138','x139','x140','x141','x142','x143','x144','x145','x146','x147','x148','x149','x150','x151','x152','x153','x154','x155','x156','x157','x158','x159','x160','x161','x162','x163','x164','x165','x166','x167','x168','x169','x170','x171','x172','x173','x174','x175','x176','x177','x178','x179','x180','x181','x182','x183','x184','x185','x186','x187','x188','x189','x190','x191','x192','x193','x194','x195','x196','x197','x198','x199','x200','x201','x202','x203','x204','x205','x206','x207','x208','x209','x210','x211','x212','x213','x214','x215','x216','x217','x218','x219','x220','x221','x222','x223','x224','x225','x226','x227','x228','x229','x230','x231','x232','x233','x234','x235','x236','x237','x238','x239','x240','x241','x242','x243','x244','x245','x246','x247','x248','x249','x250','x251','x252','x253','x254','x255','x256'),
  s SET('r','w','x'), s2 SET('s0','s1','s2','s3','s4','s5','s6','s7','s8','s9','s10','s11','s12','s13','s14','s15','s16','s17','s18','s19','s20','s21','s22','s23','s24','s25','s26','s27','s28','s29','s30','s31','s32','s33','s34','s35','s36','s37','s38','s39','s40','s41','s42','s43','s44','s45','s46','s47','s48','s49','s50','s51','s52','s53','s54','s55','s56','s57','s58','s59','s60','s61','s62','s63'),
  j JSON
) DEFAULT CHARSET latin1;
INSERT INTO strs VALUES
 (1, 'abc', 'héllo😀', REPEAT('é', 200), 'tab\there', REPEAT('ü', 999), UNHEX('00FF0A0D5C27'), UNHEX('DEADBEEF'),
  'tiny', 'line1\nline2\\', REPEAT('m', 70000), 'long', UNHEX('00'), UNHEX('0102'), REPEAT('x', 300), '',
  'b', 'x256', 'r,x', 's0,s63', '{"a": [1, 2.5, "x", null, true], "b": {"c": "d"}}'),
 (2, '', '', '', '', '', '', UNHEX('00000000'), '', '', '', '', '', '', '', '', 'a', 'x0', '', '', '[]'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
UPDATE strs SET vc = 'changed', s = 'w' WHERE id = 1;
ALTER TABLE strs ADD COLUMN extra INT DEFAULT 7;
UPDATE strs SET extra = 8 WHERE id = 2;
DELETE FROM strs WHERE id = 3;

-- mysqlbinlog 9.7 prints no GEOMETRY value (nor the columns after one): a table of its own.
CREATE TABLE geo (id INT PRIMARY KEY, g GEOMETRY, pt POINT);
INSERT INTO geo VALUES (1, ST_GeomFromText('LINESTRING(0 0, 1 1)'), POINT(1.5, -2.5)), (2, NULL, NULL);
UPDATE geo SET pt = POINT(0, 0) WHERE id = 2;

/*M! CREATE TABLE ids (id INT PRIMARY KEY, u INET6, uu UUID) */;
/*M! INSERT INTO ids VALUES (1, '::1', '123e4567-e89b-12d3-a456-426614174000'), (2, NULL, NULL) */;
/*M! UPDATE ids SET u = 'fe80::1' WHERE id = 2 */;

CREATE TABLE nokey (a INT, b VARCHAR(10));
INSERT INTO nokey VALUES (1, 'x'), (1, 'x'), (NULL, NULL);
UPDATE nokey SET b = 'y' WHERE a = 1;
DELETE FROM nokey;
