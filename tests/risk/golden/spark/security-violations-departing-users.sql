WITH _bounds AS (SELECT min(lo) AS lo, max(hi) AS hi FROM _targets),
_ev AS (SELECT e.`user`, e.`day`, e.`time`, e.activity, e.object,
        e.target, e.bytes, e.attachments, e.destination_domain, e.removable_media, e.external,
        e.sensitivity, e.url_category, e.device, e.record_id
    FROM events e, _bounds b
    WHERE e.`day` BETWEEN date_sub(b.lo, 30) AND b.hi
      AND (e.`day` >= date_sub(b.lo, 0) OR e.`user` IN (SELECT `user` FROM _targets))
      AND (((`activity` = 'MalwareDetected')) OR ((`activity` = 'SecurityToolTampered')) OR ((`activity` = 'UnallowedSoftwareInstalled')) OR ((`activity` = 'RemovableMediaMounted')))),
_sev AS (SELECT * FROM _ev WHERE `user` IN (SELECT `user` FROM _targets)),
_daily AS (SELECT `user`, `day`, count(*) FILTER (WHERE ((`activity` = 'MalwareDetected'))) AS `c_malware`, count(*) FILTER (WHERE ((`activity` = 'SecurityToolTampered'))) AS `c_tampering`, count(*) FILTER (WHERE ((`activity` = 'UnallowedSoftwareInstalled'))) AS `c_unallowed_software`, count(*) FILTER (WHERE ((`activity` = 'RemovableMediaMounted'))) AS `c_removable_media`, 0 AS x_exfil, count(*) FILTER (WHERE ((((`activity` = 'MalwareDetected')) OR ((`activity` = 'SecurityToolTampered')) OR ((`activity` = 'UnallowedSoftwareInstalled')) OR ((`activity` = 'RemovableMediaMounted')))) AND sensitivity IS NOT NULL) AS x_prio
    FROM _ev GROUP BY `user`, `day`),
_feat AS (SELECT d.*, coalesce(lower(dir.department), '') AS dept,
        coalesce(sum(`c_malware`) OVER (PARTITION BY d.`user` ORDER BY unix_date(d.`day`) RANGE BETWEEN 30 PRECEDING AND 1 PRECEDING), 0) / 30.0 AS `b_malware`, coalesce(sum(`c_malware`) OVER (PARTITION BY d.`user` ORDER BY unix_date(d.`day`) RANGE BETWEEN 30 PRECEDING AND 1 PRECEDING), 0) AS `s_malware`, coalesce(sum(`c_tampering`) OVER (PARTITION BY d.`user` ORDER BY unix_date(d.`day`) RANGE BETWEEN 30 PRECEDING AND 1 PRECEDING), 0) / 30.0 AS `b_tampering`, coalesce(sum(`c_tampering`) OVER (PARTITION BY d.`user` ORDER BY unix_date(d.`day`) RANGE BETWEEN 30 PRECEDING AND 1 PRECEDING), 0) AS `s_tampering`, coalesce(sum(`c_unallowed_software`) OVER (PARTITION BY d.`user` ORDER BY unix_date(d.`day`) RANGE BETWEEN 30 PRECEDING AND 1 PRECEDING), 0) / 30.0 AS `b_unallowed_software`, coalesce(sum(`c_unallowed_software`) OVER (PARTITION BY d.`user` ORDER BY unix_date(d.`day`) RANGE BETWEEN 30 PRECEDING AND 1 PRECEDING), 0) AS `s_unallowed_software`, coalesce(sum(`c_removable_media`) OVER (PARTITION BY d.`user` ORDER BY unix_date(d.`day`) RANGE BETWEEN 30 PRECEDING AND 1 PRECEDING), 0) / 30.0 AS `b_removable_media`, coalesce(sum(`c_removable_media`) OVER (PARTITION BY d.`user` ORDER BY unix_date(d.`day`) RANGE BETWEEN 30 PRECEDING AND 1 PRECEDING), 0) AS `s_removable_media`,
        sum(d.x_exfil) OVER (PARTITION BY d.`user` ORDER BY unix_date(d.`day`) RANGE BETWEEN 6 PRECEDING AND CURRENT ROW) AS x_cum,
        count(*) OVER (PARTITION BY d.`user` ORDER BY unix_date(d.`day`) RANGE BETWEEN 30 PRECEDING AND 1 PRECEDING) AS hist_days
    FROM _daily d LEFT JOIN directory dir ON dir.`user` = d.`user`),
_peers AS (SELECT dept, `day`,
        round(percentile(x_cum, 0.9), 6) AS peer_q,
        count(*) AS peer_n FROM _feat GROUP BY dept, `day`),
_scored AS (SELECT f.*, t.priority, p.peer_q, p.peer_n,
        CASE WHEN `c_malware` >= 5 THEN 3 WHEN `c_malware` >= 2 THEN 2 WHEN `c_malware` >= 1 THEN 1 ELSE 0 END AS `l_malware`, CASE WHEN `c_tampering` >= 4 THEN 3 WHEN `c_tampering` >= 2 THEN 2 WHEN `c_tampering` >= 1 THEN 1 ELSE 0 END AS `l_tampering`, CASE WHEN `c_unallowed_software` >= 10 THEN 3 WHEN `c_unallowed_software` >= 3 THEN 2 WHEN `c_unallowed_software` >= 1 THEN 1 ELSE 0 END AS `l_unallowed_software`, CASE WHEN `c_removable_media` >= 12 THEN 3 WHEN `c_removable_media` >= 6 THEN 2 WHEN `c_removable_media` >= 3 THEN 1 ELSE 0 END AS `l_removable_media`,
        0 AS seq_points,
        array() AS seqs
    FROM _targets t
    JOIN _feat f ON f.`user` = t.`user` AND f.`day` BETWEEN t.lo AND t.hi
    LEFT JOIN _peers p ON p.dept = f.dept AND p.`day` = f.`day`
    ),
_boosted AS (SELECT *, CASE WHEN hist_days >= 7 THEN filter(array(CASE WHEN `l_malware` >= 1 AND `c_malware` * 30 > 3.0 * greatest(`s_malware`, 30) THEN 'malware' END, CASE WHEN `l_tampering` >= 1 AND `c_tampering` * 30 > 3.0 * greatest(`s_tampering`, 30) THEN 'tampering' END, CASE WHEN `l_unallowed_software` >= 1 AND `c_unallowed_software` * 30 > 3.0 * greatest(`s_unallowed_software`, 30) THEN 'unallowed_software' END, CASE WHEN `l_removable_media` >= 1 AND `c_removable_media` * 30 > 3.0 * greatest(`s_removable_media`, 30) THEN 'removable_media' END), x -> x IS NOT NULL) ELSE CAST(array() AS ARRAY<STRING>) END AS above_baseline, false AS cum_hit,
        false AS prio_hit FROM _scored)
SELECT `user`, `day`,
    CAST(least(100, CASE `l_malware` WHEN 3 THEN 35 WHEN 2 THEN 20 WHEN 1 THEN 10 ELSE 0 END + CASE `l_tampering` WHEN 3 THEN 35 WHEN 2 THEN 20 WHEN 1 THEN 10 ELSE 0 END + CASE `l_unallowed_software` WHEN 3 THEN 35 WHEN 2 THEN 20 WHEN 1 THEN 10 ELSE 0 END + CASE `l_removable_media` WHEN 3 THEN 35 WHEN 2 THEN 20 WHEN 1 THEN 10 ELSE 0 END + CASE WHEN size(above_baseline) > 0 THEN 10 ELSE 0 END + CASE WHEN cum_hit THEN 15 ELSE 0 END + CASE WHEN prio_hit THEN 10 ELSE 0 END + CASE WHEN priority AND (`l_malware` >= 1 OR `l_tampering` >= 1 OR `l_unallowed_software` >= 1 OR `l_removable_media` >= 1) THEN 10 ELSE 0 END + seq_points) AS INT) AS score,
    (`l_malware` >= 1 OR `l_tampering` >= 1 OR `l_unallowed_software` >= 1 OR `l_removable_media` >= 1) AND least(100, CASE `l_malware` WHEN 3 THEN 35 WHEN 2 THEN 20 WHEN 1 THEN 10 ELSE 0 END + CASE `l_tampering` WHEN 3 THEN 35 WHEN 2 THEN 20 WHEN 1 THEN 10 ELSE 0 END + CASE `l_unallowed_software` WHEN 3 THEN 35 WHEN 2 THEN 20 WHEN 1 THEN 10 ELSE 0 END + CASE `l_removable_media` WHEN 3 THEN 35 WHEN 2 THEN 20 WHEN 1 THEN 10 ELSE 0 END + CASE WHEN size(above_baseline) > 0 THEN 10 ELSE 0 END + CASE WHEN cum_hit THEN 15 ELSE 0 END + CASE WHEN prio_hit THEN 10 ELSE 0 END + CASE WHEN priority AND (`l_malware` >= 1 OR `l_tampering` >= 1 OR `l_unallowed_software` >= 1 OR `l_removable_media` >= 1) THEN 10 ELSE 0 END + seq_points)
        >= 10 AS alerting,
    to_json(named_struct('malware', named_struct('count', `c_malware`, 'level', `l_malware`, 'baseline', round(`b_malware`, 3)), 'tampering', named_struct('count', `c_tampering`, 'level', `l_tampering`, 'baseline', round(`b_tampering`, 3)), 'unallowed_software', named_struct('count', `c_unallowed_software`, 'level', `l_unallowed_software`, 'baseline', round(`b_unallowed_software`, 3)), 'removable_media', named_struct('count', `c_removable_media`, 'level', `l_removable_media`, 'baseline', round(`b_removable_media`, 3))), map('ignoreNullFields', 'false')) AS indicators,
    to_json(named_struct('above_baseline', above_baseline, 'cumulative_exfiltration', named_struct('hit', cum_hit, 'user', x_cum, 'peer_quantile', peer_q, 'peers', peer_n, 'department', dept), 'priority_content', named_struct('hit', prio_hit, 'events', x_prio), 'priority_user', priority), map('ignoreNullFields', 'false')) AS boosters,
    to_json(seqs, map('ignoreNullFields', 'false')) AS sequences
FROM _boosted
