@echo off
rem Smoke-test a running shop, e.g. smoke.bat --base-url https://dev.shop.example.com --wait 120
rem Windows twin of scripts/deploy/smoke.sh: runs `shopfloor smoke` from the repository's .venv
rem (.venv\Scripts\shopfloor.exe), else shopfloor on PATH. Every argument is passed through.
setlocal
for %%I in ("%~dp0..\..") do set "REPO_ROOT=%%~fI"
if defined SHOPFLOOR_REPO set "REPO_ROOT=%SHOPFLOOR_REPO%"
set "SHOPFLOOR=%~dp0..\..\.venv\Scripts\shopfloor.exe"
if not exist "%SHOPFLOOR%" set "SHOPFLOOR=shopfloor"
"%SHOPFLOOR%" --repo "%REPO_ROOT%" smoke %*
exit /b %ERRORLEVEL%
