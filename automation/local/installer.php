<?php
/*
 * ostops: run osTicket's own installer (setup/inc/class.installer.php) without a browser.
 *
 * Shared by the local default (`ostops local up`) and the Windows bootstrap (infra/bootstrap/bootstrap.ps1).
 * Usage: php installer.php < config.json   (secrets arrive on stdin, never on the command line)
 * Keys: webroot, db_host, db_port, db_name, db_user, db_pass, table_prefix, helpdesk_name, helpdesk_email,
 *       admin_firstname, admin_lastname, admin_email, admin_username, admin_password, helpdesk_url,
 *       api_key, api_key_ip
 *       optional: smtp_host, smtp_port (an SMTP server for the help desk's address, no auth, no TLS), and
 *       smtp_username + smtp_password (a relay: basic authentication; 465 = SSL, 587 = STARTTLS by port)
 * Prints one JSON line: {"ok":true,"version":...} or {"ok":false,"error":...,"errors":{...}}; exit 0 / 1.
 */

function ostops_finish($ok, $payload, $code) {
    fwrite(STDOUT, json_encode(array('ok' => $ok) + $payload) . "\n");
    exit($code);
}

function ostops_fail($message, $errors = array()) {
    ostops_finish(false, array('error' => $message, 'errors' => $errors), 1);
}

$raw = stream_get_contents(STDIN);
$in = json_decode($raw, true);
if (!is_array($in))
    ostops_fail('stdin is not a JSON object');

$required = array('webroot', 'db_host', 'db_port', 'db_name', 'db_user', 'db_pass', 'table_prefix',
    'helpdesk_name', 'helpdesk_email', 'admin_firstname', 'admin_lastname', 'admin_email',
    'admin_username', 'admin_password', 'helpdesk_url', 'api_key', 'api_key_ip');
$missing = array();
foreach ($required as $key)
    if (!isset($in[$key]) || $in[$key] === '')
        $missing[] = $key;
if ($missing)
    ostops_fail('missing keys: ' . implode(', ', $missing));

$webroot = rtrim($in['webroot'], '/\\');
if (!is_file("$webroot/setup/setup.inc.php") || !is_file("$webroot/include/ost-sampleconfig.php"))
    ostops_fail("$webroot is not an osTicket web root (setup/setup.inc.php or include/ost-sampleconfig.php missing)");
if (!preg_match('/^[0-9A-F]{32}$/', $in['api_key']))
    ostops_fail('api_key must be 32 upper-case hex characters');
if (!filter_var($in['api_key_ip'], FILTER_VALIDATE_IP))
    ostops_fail('api_key_ip must be one IP address');

$url = parse_url($in['helpdesk_url']);
if (!$url || empty($url['host']))
    ostops_fail('helpdesk_url is not a URL');

// setup.inc.php derives the help desk URL from the request; give it the one the users will see.
$_SERVER['HTTP_HOST'] = $url['host'] . (isset($url['port']) ? ':' . $url['port'] : '');
$_SERVER['PHP_SELF'] = rtrim(isset($url['path']) ? $url['path'] : '/', '/') . '/setup/install.php';
$_SERVER['SCRIPT_NAME'] = $_SERVER['PHP_SELF'];
$_SERVER['REQUEST_URI'] = $_SERVER['PHP_SELF'];
$_SERVER['REMOTE_ADDR'] = '127.0.0.1';
if ($url['scheme'] === 'https')
    $_SERVER['HTTPS'] = 'on';

$configFile = "$webroot/include/ost-config.php";
if (is_file($configFile) && preg_match("/define\('OSTINSTALLED',TRUE\)\;/i", file_get_contents($configFile)))
    ostops_finish(true, array('already_installed' => true), 0);
if (!is_file($configFile) && !copy("$webroot/include/ost-sampleconfig.php", $configFile))
    ostops_fail("cannot create $configFile");

chdir("$webroot/setup");
// osTicket checks mysqli's return values; PHP 8.1+ would throw instead and hide its error messages.
mysqli_report(MYSQLI_REPORT_OFF);
error_reporting(E_ERROR | E_PARSE);
ini_set('display_errors', '0');
ob_start();
require "$webroot/setup/setup.inc.php";
require_once INC_DIR . 'class.installer.php';

$installer = new Installer($configFile);
$ok = $installer->install(array(
    'name' => $in['helpdesk_name'],
    'email' => $in['helpdesk_email'],
    'fname' => $in['admin_firstname'],
    'lname' => $in['admin_lastname'],
    'admin_email' => $in['admin_email'],
    'username' => $in['admin_username'],
    'passwd' => $in['admin_password'],
    'passwd2' => $in['admin_password'],
    'prefix' => $in['table_prefix'],
    'dbhost' => $in['db_host'] . ':' . $in['db_port'],
    'dbname' => $in['db_name'],
    'dbuser' => $in['db_user'],
    'dbpass' => $in['db_pass'],
    'timezone' => 'UTC',
    'lang_id' => 'en_US',
));
$noise = ob_get_clean();
if (!$ok) {
    $errors = $installer->getErrors();
    $message = isset($errors['err']) ? $errors['err'] : 'osTicket installer failed';
    unset($errors['err']);
    ostops_fail($message, $errors);
}

// Settings a working install needs that the web installer leaves to the admin panel.
$settings = new Config('core');
$settings->updateAll(array(
    'helpdesk_url' => rtrim($in['helpdesk_url'], '/') . '/',
    // Offline (and in most labs) the MX lookup fails and the ticket API answers 500 for every address.
    'verify_email_addrs' => 0,
));

$sql = 'INSERT INTO ' . TABLE_PREFIX . 'api_key SET isactive=1, can_create_tickets=1, can_exec_cron=1'
    . ', ipaddr=' . db_input($in['api_key_ip'])
    . ', apikey=' . db_input($in['api_key'])
    . ', notes=' . db_input('ostops automation key')
    . ', created=NOW(), updated=NOW()'
    . ' ON DUPLICATE KEY UPDATE isactive=1, can_create_tickets=1, can_exec_cron=1, ipaddr=VALUES(ipaddr), updated=NOW()';
if (!db_query($sql, false))
    ostops_fail('cannot create the API key: ' . db_error());

// Outgoing mail (include/class.mailer.php): osTicket tries the sending address's own SMTP account, then the
// default MTA (config default_smtp_id), then PHP's mail(). One account on the help desk's address, made the
// default MTA, carries every message, alerts from alerts@ included (allow_spoofing keeps their From).
// auth_bk 'none' is osTicket's "None - No Authentication Required" (Email::getSupportedSMTPAuthTypes);
// a host without a tls:// or ssl:// prefix on a port other than 465/587 is plain SMTP (Mail\AccountSetting).
// A relay (smtp_username + smtp_password): auth_bk 'basic', the credentials stored as osTicket's admin panel
// stores them (EmailAccount::updateBasicAuthCredentials, include/class.email.php): in the config namespace
// email.<email id>.account.<account id>, the password encrypted with SECRET_SALT and md5(username . namespace).
// SECRET_SALT is the one the installer just wrote to ost-config.php (this process still has its own interim
// salt, class.installer.php). TLS follows the port (Mail\AccountSetting, include/class.mail.php: 465 SSL,
// 587 STARTTLS) or a ssl:// / tls:// prefix on the host.
if (!empty($in['smtp_host']) && !empty($in['smtp_port'])) {
    $relay = !empty($in['smtp_username']);
    if ($relay && (!isset($in['smtp_password']) || $in['smtp_password'] === ''))
        ostops_fail('smtp_username needs smtp_password');
    $emailId = (int) $settings->get('default_email_id');
    $sql = 'INSERT INTO ' . EMAIL_ACCOUNT_TABLE . " SET type='smtp', active=1, protocol='SMTP'"
        . ', auth_bk=' . db_input($relay ? 'basic' : 'none')
        . ', encryption=' . db_input($relay ? 'AUTO' : 'NONE')
        . ', allow_spoofing=1, created=NOW(), updated=NOW()'
        . ', email_id=' . db_input($emailId)
        . ', host=' . db_input($in['smtp_host'])
        . ', port=' . db_input((int) $in['smtp_port']);
    if (!db_query($sql, false))
        ostops_fail('cannot create the SMTP account: ' . db_error());
    $accountId = db_insert_id();
    if ($relay) {
        if (!preg_match("/define\\('SECRET_SALT',\\s*'([^']+)'\\)/", file_get_contents($configFile), $salt))
            ostops_fail("$configFile has no SECRET_SALT");
        require_once INCLUDE_DIR . 'class.email.php';
        require_once INCLUDE_DIR . 'class.crypto.php';
        $namespace = sprintf('email.%d.account.%d', $emailId, $accountId);
        $credentials = new EmailAccountConfig($namespace);
        $stored = $credentials->updateInfo(array(
            'username' => $in['smtp_username'],
            'passwd' => Crypto::encrypt($in['smtp_password'], $salt[1], md5($in['smtp_username'] . $namespace)),
        ));
        if (!$stored)
            ostops_fail('cannot store the SMTP relay credentials');
    }
    $settings->updateAll(array('default_smtp_id' => $accountId));
}

ostops_finish(true, array('version' => THIS_VERSION, 'helpdesk_url' => $in['helpdesk_url']), 0);
