#!/usr/bin/env python
"""A client written the way the vendor's 2024 RTO example "market price with
authentication" is: an OAuth v1 password grant with requests, a WebSocket to an explicit
``--hostname`` with websocket-client, a Login carrying the token, the item ``/TRI.N`` on
``ELEKTRON_DD``, Pongs for the server's Pings, and a refresh grant every 90 % of
``expires_in`` followed by a Login with ``"Refresh": false``. No ertcloud code. The
compatibility tests run it unchanged against ``ertcloud sim``; the CA to trust comes from
the environment (REQUESTS_CA_BUNDLE and WEBSOCKET_CLIENT_CA_BUNDLE).
"""

import getopt
import json
import socket
import sys
import threading
import time

import requests
import websocket

# Global Default Variables
app_id = "256"
auth_url = "https://api.refinitiv.com:443/auth/oauth2/v1/token"
hostname = ""
password = ""
newPassword = ""
position = ""
sts_token = ""
refresh_token = ""
user = ""
clientid = ""
client_secret = ""
scope = "trapi.streaming.pricing.read"
port = "443"
ric = "/TRI.N"
service = "ELEKTRON_DD"

# Global Variables
web_socket_app = None
web_socket_open = False
logged_in = False
original_expire_time = "0"

BRAND = "LSEG Delivery Platform"


def process_message(message_json):
    """Parse at high level and output JSON of message"""
    message_type = message_json["Type"]

    if message_type == "Refresh":
        if "Domain" in message_json:
            message_domain = message_json["Domain"]
            if message_domain == "Login":
                process_login_response(message_json)
    elif message_type == "Ping":
        pong_json = {"Type": "Pong"}
        web_socket_app.send(json.dumps(pong_json))
        print("SENT:")
        print(json.dumps(pong_json, sort_keys=True, indent=2, separators=(",", ":")))


def process_login_response(message_json):
    """Send item request"""
    global logged_in

    if message_json["State"]["Stream"] != "Open" or message_json["State"]["Data"] != "Ok":
        print("Login failed.")
        sys.exit(1)

    logged_in = True
    send_market_price_request(ric)


def send_market_price_request(ric_name):
    """Create and send simple Market Price request"""
    mp_req_json = {
        "ID": 2,
        "Key": {
            "Name": ric_name,
            "Service": service,
        },
    }
    if service.isdigit():
        mp_req_json["Key"]["Service"] = int(service)
    web_socket_app.send(json.dumps(mp_req_json))
    print("SENT:")
    print(json.dumps(mp_req_json, sort_keys=True, indent=2, separators=(",", ":")))


def send_login_request(auth_token, is_refresh_token):
    """Generate a login request from command line data (or defaults) and send"""
    login_json = {
        "ID": 1,
        "Domain": "Login",
        "Key": {
            "NameType": "AuthnToken",
            "Elements": {
                "ApplicationId": "",
                "Position": "",
                "AuthenticationToken": "",
            },
        },
    }

    login_json["Key"]["Elements"]["ApplicationId"] = app_id
    login_json["Key"]["Elements"]["Position"] = position
    login_json["Key"]["Elements"]["AuthenticationToken"] = auth_token

    # If the token is a refresh token, this is not our first login attempt.
    if is_refresh_token:
        login_json["Refresh"] = False

    web_socket_app.send(json.dumps(login_json))
    print("SENT:")
    print(json.dumps(login_json, sort_keys=True, indent=2, separators=(",", ":")))


def decode_frame(message):
    """Text frames arrive as str; a binary frame is read as ISO-8859-1, parsed as UTF-8"""
    if isinstance(message, bytes):
        message = message.decode("ISO-8859-1").encode("utf-8")
    return json.loads(message)


def on_message(_, message):
    """Called when message received, parse message into JSON for processing"""
    print("RECEIVED: ")
    message_json = decode_frame(message)
    print(json.dumps(message_json, sort_keys=True, indent=2, separators=(",", ":")))

    for singleMsg in message_json:
        process_message(singleMsg)


def on_error(_, error):
    """Called when websocket error has occurred"""
    print(error)


def on_close(_, close_status_code=None, close_msg=None):
    """Called when websocket is closed"""
    global web_socket_open
    global logged_in
    web_socket_open = False
    logged_in = False
    print("WebSocket Closed")


def on_open(_):
    """Called when handshake is complete and websocket is open, send login"""
    print("WebSocket successfully connected!")
    global web_socket_open
    web_socket_open = True
    send_login_request(sts_token, False)


def print_http_failure(r):
    print(BRAND + " authentication HTTP code:", r.status_code, r.reason)


def change_password():
    """Change the password with a password grant carrying newPassword"""
    data = {
        "username": user,
        "password": password,
        "client_id": clientid,
        "grant_type": "password",
        "takeExclusiveSignOnControl": True,
        "scope": scope,
        "newPassword": newPassword,
    }
    print("Sending changing password request to", auth_url, "...")
    try:
        r = requests.post(
            auth_url,
            headers={"Accept": "application/json"},
            data=data,
            auth=(clientid, client_secret),
            verify=True,
            allow_redirects=False,
        )
    except requests.exceptions.RequestException as e:
        print(BRAND + " changing password exception failure:", e)
        return False

    if r.status_code == 200:
        auth_json = r.json()
        print(BRAND + " Changing password succeeded. RECEIVED:")
        print(json.dumps(auth_json, sort_keys=True, indent=2, separators=(",", ":")))
        return True

    print_http_failure(r)
    print("Text:", r.text)
    return False


def check_new_password(pwd):
    """Check the new password against the platform's policy before sending it"""
    min_length = 30
    specials = "~!@#$%^&*()-_=+[]{}|;:,.<>/?"
    if len(pwd) < min_length:
        print("New password must be at least", min_length, "characters long")
        return False
    for c in pwd:
        if not (c.isascii() and (c.isalnum() or c in specials)):
            print("New password contains an invalid character:", c)
            return False
    upper = any(c.isupper() for c in pwd)
    lower = any(c.islower() for c in pwd)
    digit = any(c.isdigit() for c in pwd)
    special = any(c in specials for c in pwd)
    if upper + lower + digit + special < 3:
        print("New password must contain characters of at least 3 of these groups:"
              " upper case, lower case, digits, special characters")
        return False
    return True


def get_sts_token(current_refresh_token, url=None):
    """
    Retrieves an authentication token.
    :param current_refresh_token: Refresh token retrieved from a previous authentication,
        used to retrieve a subsequent access token. If not provided (i.e. on the initial
        authentication), the password is used.
    """
    if url is None:
        url = auth_url

    if not current_refresh_token:  # First time through, send password
        data = {
            "username": user,
            "password": password,
            "client_id": clientid,
            "grant_type": "password",
            "takeExclusiveSignOnControl": True,
            "scope": scope,
        }
        print("Sending authentication request with password to", url, "...")
    else:  # Use the given refresh token
        data = {
            "username": user,
            "client_id": clientid,
            "refresh_token": current_refresh_token,
            "grant_type": "refresh_token",
        }
        print("Sending authentication request with refresh token to", url, "...")
    if client_secret != "":
        data["client_secret"] = client_secret

    try:
        # Request with auth for https protocol
        r = requests.post(
            url,
            headers={"Accept": "application/json"},
            data=data,
            auth=(clientid, client_secret),
            verify=True,
            allow_redirects=False,
        )
    except requests.exceptions.RequestException as e:
        print(BRAND + " authentication exception failure:", e)
        return None, None, None

    if r.status_code == 200:
        auth_json = r.json()
        print(BRAND + " Authentication succeeded. RECEIVED:")
        print(json.dumps(auth_json, sort_keys=True, indent=2, separators=(",", ":")))
        return auth_json["access_token"], auth_json["refresh_token"], auth_json["expires_in"]
    elif r.status_code in (301, 302, 307, 308):
        # Perform URL redirect
        print_http_failure(r)
        new_host = r.headers.get("Location")
        if new_host is not None:
            print("Perform URL redirect to ", new_host)
            return get_sts_token(current_refresh_token, new_host)
        return None, None, None
    elif r.status_code in (400, 401):
        # Retry with username and password
        print_http_failure(r)
        if current_refresh_token:
            # Refresh token may have expired. Try using our password.
            print("Retry with username and password")
            return get_sts_token(None)
        return None, None, None
    elif r.status_code in (403, 404, 410, 451):
        # Stop retrying with the request
        print_http_failure(r)
        print("Stop retrying with the request")
        return None, None, None
    else:
        # Retry the request to the API gateway
        print_http_failure(r)
        print("Retrying auth request to", url, "after 5 seconds...")
        time.sleep(5)
        return get_sts_token(current_refresh_token, url)


def usage():
    print("Usage: market_price_rto_authentication.py [--hostname hostname] [--port port] "
          "[--app_id app_id] [--user user] [--clientid clientid] [--password password] "
          "[--newPassword new_password] [--position position] [--auth_url auth_url] "
          "[--scope scope] [--ric ric] [--service service] [--help]")


if __name__ == "__main__":
    # Get command line parameters
    opts = []
    try:
        opts, args = getopt.getopt(
            sys.argv[1:],
            "",
            [
                "help",
                "hostname=",
                "port=",
                "app_id=",
                "user=",
                "clientid=",
                "password=",
                "newPassword=",
                "position=",
                "auth_url=",
                "scope=",
                "ric=",
                "service=",
            ],
        )
    except getopt.GetoptError:
        usage()
        sys.exit(2)
    for opt, arg in opts:
        if opt in "--help":
            usage()
            sys.exit(0)
        elif opt in "--hostname":
            hostname = arg
        elif opt in "--port":
            port = arg
        elif opt in "--app_id":
            app_id = arg
        elif opt in "--user":
            user = arg
        elif opt in "--clientid":
            clientid = arg
        elif opt in "--password":
            password = arg
        elif opt in "--newPassword":
            newPassword = arg
        elif opt in "--position":
            position = arg
        elif opt in "--auth_url":
            auth_url = arg
        elif opt in "--scope":
            scope = arg
        elif opt in "--ric":
            ric = arg
        elif opt in "--service":
            service = arg

    if user == "" or password == "" or hostname == "" or clientid == "":
        print("user, clientid, password, and hostname are required options")
        sys.exit(2)

    if newPassword != "":
        if not check_new_password(newPassword):
            sys.exit(2)
        if not change_password():
            sys.exit(2)
        password = newPassword

    if position == "":
        # Populate position if possible
        try:
            position_host = socket.gethostname()
            position = socket.gethostbyname(position_host) + "/" + position_host
        except socket.gaierror:
            position = "127.0.0.1/net"

    sts_token, refresh_token, expire_time = get_sts_token(None)
    if not sts_token:
        sys.exit(1)

    original_expire_time = expire_time

    # Start websocket handshake
    ws_address = "wss://{}:{}/WebSocket".format(hostname, port)
    print("Connecting to WebSocket " + ws_address + " ...")
    web_socket_app = websocket.WebSocketApp(
        ws_address,
        on_message=on_message,
        on_error=on_error,
        on_close=on_close,
        subprotocols=["tr_json2"],
    )
    web_socket_app.on_open = on_open

    # Event loop
    wst = threading.Thread(
        target=web_socket_app.run_forever,
        kwargs={"sslopt": {"check_hostname": False}},
    )
    wst.daemon = True
    wst.start()

    try:
        while True:
            # Continue using current token until 90% of initial time before it expires.
            time.sleep(int(float(expire_time) * 0.90))

            sts_token, refresh_token, expire_time = get_sts_token(refresh_token)
            if not sts_token:
                sys.exit(1)

            if int(expire_time) != int(original_expire_time):
                print("expire time changed from " + str(original_expire_time) + " sec to "
                      + str(expire_time) + " sec; retry with password")
                sts_token, refresh_token, expire_time = get_sts_token(None)
                if not sts_token:
                    sys.exit(1)
                original_expire_time = expire_time

            # Update token.
            if logged_in:
                send_login_request(sts_token, True)
    except KeyboardInterrupt:
        web_socket_app.close()
